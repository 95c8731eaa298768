"""Tables and figures regenerated from run folders."""
