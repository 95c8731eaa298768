"""Use a trained run: classify photos and video (predict), export an ONNX graph (export),
write a fold's features (features), describe the model (model_card). Everything starts
from one run loader (run.load_run); nothing here imports the training loop."""
