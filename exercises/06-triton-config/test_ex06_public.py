"""Public tests for exercise 6: parse config.pbtxt with Triton's schema and check the batching knobs."""

from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2


def parsed():
    return text_format.Parse((Path(__file__).parent / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())


def test_parses_and_names_the_model():
    cfg = parsed()
    assert cfg.name == "preprocessing" and cfg.backend == "python"


def test_batches_and_has_two_instances():
    cfg = parsed()
    assert cfg.max_batch_size >= 8
    assert cfg.HasField("dynamic_batching") and cfg.dynamic_batching.max_queue_delay_microseconds > 0
    assert sum(g.count or 1 for g in cfg.instance_group) == 2
