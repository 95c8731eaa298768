"""Training jobs' share of the gpu resource: from params, or from the machine where it says auto."""

from spndl.params import gpu_per_job


def test_gpu_per_job_follows_params_and_the_driver_listing(tmp_path):
    gpus = tmp_path / "gpus"
    assert gpu_per_job({}, str(gpus)) == 0                                  # no driver: no GPU
    gpus.mkdir()
    assert gpu_per_job({"compute": {"gpu_per_job": "auto"}}, str(gpus)) == 0  # a driver that lists none
    (gpus / "0000:17:00.0").mkdir()
    assert gpu_per_job({"compute": {"gpu_per_job": "auto"}}, str(gpus)) == 1
    assert gpu_per_job({"compute": {"gpu_per_job": 0}}, str(gpus)) == 0     # params win over the machine
    assert gpu_per_job({"compute": {"gpu_per_job": 1}}, str(tmp_path / "none")) == 1  # a submit host
