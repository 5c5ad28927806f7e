"""Using trained models: reading checkpoints and exports, prediction, reply generation, retrieval and
chat sessions."""
