"""ECP5 register packing (fpga/pack.py): what is moved into a MULT18X18D or DP16KD, and
what must stay in the fabric; then one real DSP build through the flow."""

import copy

from fpga.configs import configs
from fpga.flow import run_config
from fpga.pack import pack_ecp5

CLK, CE_A, CE_B, RST = 2, 3, 4, 5


def _ff(d, q, *, ce=None, lsr="0", regset="RESET", clk=CLK):
    conns = {"CLK": [clk], "DI": [d], "LSR": [lsr], "Q": [q]}
    params = {"CLKMUX": "CLK", "GSR": "DISABLED", "LSRMUX": "LSR", "REGSET": regset,
              "CEMUX": "1 "}
    if ce is not None:
        conns["CE"], params["CEMUX"] = [ce], "CE"
    dirs = {"CLK": "input", "DI": "input", "LSR": "input", "CE": "input", "Q": "output"}
    return {"type": "TRELLIS_FF", "parameters": params, "connections": conns,
            "port_directions": dirs}


def _lut(inputs, out):
    conns = {**{f"I{i}": [b] for i, b in enumerate(inputs)}, "Z": [out]}
    return {"type": "LUT4", "parameters": {}, "connections": conns,
            "port_directions": {**{f"I{i}": "input" for i in range(len(inputs))},
                                "Z": "output"}}


def _mult(a, b, p):
    conns = {"SIGNEDA": ["1"], "SIGNEDB": ["1"]}
    conns.update({f"A{i}": [x] for i, x in enumerate(a)})
    conns.update({f"B{i}": [x] for i, x in enumerate(b)})
    conns.update({f"P{i}": [x] for i, x in enumerate(p)})
    dirs = {k: ("output" if k.startswith("P") else "input") for k in conns}
    return {"type": "MULT18X18D", "parameters": {}, "connections": conns,
            "port_directions": dirs}


def _design(*, a_ce=CE_A, b_ce=CE_A, p_lsr="0", extra_p_load=False, a_pin_one=False,
            wrapper_ff=False):
    """dut0: a (2 bits, bits 10-11) and b (bits 20-21) registered from D nets 100.. into a
    multiplier whose 3 used product bits (30-32) are registered to 40-42, read by a LUT."""
    cells = {}
    for i in range(2):
        cells[f"dut0.a{i}"] = _ff(100 + i, 10 + i, ce=a_ce)
        cells[f"dut0.b{i}"] = _ff(110 + i, 20 + i, ce=b_ce)
    a = [10, 11] + (["1"] if a_pin_one else [11])
    cells["dut0.mul"] = _mult(a, [20, 21, 21], [30, 31, 32])
    for i in range(3):
        name = f"{'cap' if wrapper_ff else 'dut0.p'}{i}"
        cells[name] = _ff(30 + i, 40 + i, ce=CE_B, lsr=p_lsr)
    cells["dut0.use"] = _lut([40, 41, 42] + ([31] if extra_p_load else []), 50)
    return {"modules": {"fpga_wrap": {"cells": cells, "ports": {
        "dout": {"direction": "output", "bits": [50]}}}}}


def _pack(netlist):
    out = copy.deepcopy(netlist)
    return out, pack_ecp5(out)


def test_registers_around_a_multiplier_move_inside():
    net, counts = _pack(_design())
    cells = net["modules"]["fpga_wrap"]["cells"]
    mul = cells["dut0.mul"]
    p = mul["parameters"]
    assert p["REG_INPUTA_CLK"] == p["REG_INPUTB_CLK"] == p["REG_OUTPUT_CLK"] == "CLK0"
    assert mul["connections"]["CLK0"] == [CLK]
    # operands read the registers' D nets; products drive the old registers' Q nets
    assert [mul["connections"][f"A{i}"] for i in range(3)] == [[100], [101], [101]]
    assert [mul["connections"][f"P{i}"] for i in range(3)] == [[40], [41], [42]]
    # one enable for the operands, another for the product, each on its own CE pin
    assert mul["connections"][p["REG_INPUTA_CE"]] == [CE_A]
    assert p["REG_INPUTB_CE"] == p["REG_INPUTA_CE"]
    assert mul["connections"][p["REG_OUTPUT_CE"]] == [CE_B]
    assert not any(c["type"] == "TRELLIS_FF" for c in cells.values())
    assert counts["dsp_packed"] == 1 and counts["ff_removed"] == 7
    assert counts["dsp_output_ffs"] == 3 and counts["dsp_input_pins"] == 6


def test_a_register_with_reset_stays_in_the_fabric():
    net, counts = _pack(_design(p_lsr=RST))
    mul = net["modules"]["fpga_wrap"]["cells"]["dut0.mul"]
    assert mul["parameters"].get("REG_OUTPUT_CLK", "NONE") == "NONE"
    assert mul["connections"]["P0"] == [30]
    assert counts["dsp_output_ffs"] == 0 and counts["dsp_input_pins"] == 6


def test_a_product_bit_with_a_second_load_is_not_packed():
    net, counts = _pack(_design(extra_p_load=True))
    mul = net["modules"]["fpga_wrap"]["cells"]["dut0.mul"]
    assert mul["parameters"].get("REG_OUTPUT_CLK", "NONE") == "NONE"
    assert counts["dsp_output_ffs"] == 0


def test_the_wrappers_registers_are_never_taken():
    """A block output straight from a multiplier must not gain the wrapper's register."""
    _, counts = _pack(_design(wrapper_ff=True))
    assert counts["dsp_output_ffs"] == 0


def test_operands_with_a_constant_one_or_two_enables():
    net, counts = _pack(_design(a_pin_one=True, b_ce=CE_B))
    p = net["modules"]["fpga_wrap"]["cells"]["dut0.mul"]["parameters"]
    assert p.get("REG_INPUTA_CLK", "NONE") == "NONE"         # a 1 would read 0 at power-up
    assert p["REG_INPUTB_CLK"] == "CLK0"
    # the a registers stay (they still feed A), the b registers went inside
    assert counts["dsp_input_pins"] == 3 and counts["ff_removed"] == 5


def _bram(rst="0"):
    conns = {"CLKA": [CLK], "RSTA": [rst], "CEA": ["1"], "OCEA": ["1"],
             "DOA0": [60], "DOA1": [61], "ADA4": [70]}
    dirs = {k: ("output" if k.startswith("DO") else "input") for k in conns}
    cells = {"dut0.ram": {"type": "DP16KD", "connections": conns, "port_directions": dirs,
                          "parameters": {"REGMODE_A": "NOREG", "REGMODE_B": "NOREG",
                                         "CLKAMUX": "CLKA"}},
             "dut0.q0": _ff(60, 80, ce=CE_A), "dut0.q1": _ff(61, 81, ce=CE_A),
             "dut0.use": _lut([80, 81], 90)}
    return {"modules": {"fpga_wrap": {"cells": cells, "ports": {}}}}


def test_block_ram_output_register():
    net, counts = _pack(_bram())
    ram = net["modules"]["fpga_wrap"]["cells"]["dut0.ram"]
    assert ram["parameters"]["REGMODE_A"] == "OUTREG"
    assert ram["connections"]["OCEA"] == [CE_A]
    assert ram["connections"]["DOA0"] == [80] and ram["connections"]["DOA1"] == [81]
    assert counts["bram_ports_packed"] == 1 and counts["ff_removed"] == 2


def test_block_ram_with_a_read_reset_keeps_its_register_outside():
    net, counts = _pack(_bram(rst=RST))
    assert net["modules"]["fpga_wrap"]["cells"]["dut0.ram"]["parameters"]["REGMODE_A"] == "NOREG"
    assert counts["bram_ports_packed"] == 0


def test_a_dsp_build_through_the_flow(tmp_path):
    """The 1:4 int16 MAC (one MULT18X18D) in a fresh cache: its operand and product
    registers end up inside the DSP and the flip-flop count says so."""
    config = next(c for c in configs(["sparse_mac"]) if c.label == "sparse_mac[1of4_g1_int16]")
    (row,) = run_config(config, "ecp5-25f", [1], root=tmp_path)
    assert "error" not in row, row.get("error")
    assert row["packed"]["dsp_packed"] == 1 and row["packed"]["dsp_output_ffs"] >= 32
    assert row["FF"] == row["cells"]["TRELLIS_FF"] - row["packed"]["ff_removed"]
    assert row["fmax_mhz"] > 0
