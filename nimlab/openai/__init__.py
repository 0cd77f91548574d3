"""The OpenAI API layer both front ends share (course NIM, Triton): protocol models, SSE framing, serving over
an engine-client seam, and the app factory. It knows no engine: each stack plugs in an `EngineClient`."""
