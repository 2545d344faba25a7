"""The AXI4-Stream export wrapper and the blocks' parameter checks."""

import pytest
from amaranth.hdl import Shape
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.axis import AXIStreamExport, stream_payload
from hw.rlc import RLCDecoder, RLCLoopback


def test_stream_payload_widths():
    assert stream_payload(16).size == 17
    with pytest.raises(ValueError, match="multiple of 8, not 12"):
        stream_payload(12)
    with pytest.raises(ValueError, match="multiple of 8, not 0"):
        stream_payload(0)


def test_export_names_and_directions():
    top = AXIStreamExport(RLCDecoder(), {"i": "s_axis", "o": "m_axis"})
    members = top.signature.members
    assert members["s_axis_tdata"].flow == In and Shape.cast(members["s_axis_tdata"].shape).width == 64
    assert members["s_axis_tready"].flow == Out
    assert members["m_axis_tdata"].flow == Out and Shape.cast(members["m_axis_tdata"].shape).width == 16
    assert members["m_axis_tready"].flow == In
    assert members["length"].flow == In and members["error"].flow == Out


def test_export_rejects_unmapped_and_unknown_streams():
    with pytest.raises(ValueError, match="no AXI prefix"):
        AXIStreamExport(RLCDecoder(), {"i": "s_axis"})
    with pytest.raises(ValueError, match="No stream members named"):
        AXIStreamExport(RLCDecoder(), {"i": "s_axis", "o": "m_axis", "x": "s_axis_x"})


def test_export_rejects_payload_without_data_field():
    class Raw(wiring.Component):
        i: In(stream.Signature(8))

        def elaborate(self, platform):
            raise NotImplementedError

    with pytest.raises(TypeError, match="StructLayout payload with a 'data' field"):
        AXIStreamExport(Raw(), {"i": "s_axis"})


def test_loopback_fifo_depth_checked():
    with pytest.raises(ValueError, match="FIFO depth must be an integer of at least 2, not 1"):
        RLCLoopback(fifo_depth=1)
