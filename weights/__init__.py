"""The weights tool, in the serving pod and on operators' machines: push/pull/verify model weights
between a folder and the bucket, and the pod entrypoint that pulls then execs vLLM (`llz weights`)."""
