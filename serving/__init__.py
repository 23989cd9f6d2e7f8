"""What runs inside the serving pod: weights pull/push and the vLLM entrypoint."""
