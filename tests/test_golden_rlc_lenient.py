"""golden.rlc.decode_lenient, the hardware decoder's exact outputs on any input, against
hand-made cases that validate must agree on.
"""

import numpy as np
import pytest
from rlc_reference import LAST, w

from golden.rlc import decode_lenient, validate


@pytest.mark.parametrize("words, n, values, error", [
    # valid
    ([w((0, 1), (0, 2), last=True)], 2, [1, 2], False),
    ([w((0, 1), last=True)], 32, [1] + [0] * 31, False),
    ([LAST], 0, [], False),
    # last bit missing on the only word: tlast still ends the tensor
    ([w((0, 5), (0, 6))], 2, [5, 6], True),
    # bit 63 on word 0 of 2: the second word is drained unread
    ([w((0, 1), (0, 2), (0, 3), last=True), w((0, 4), last=True)], 4, [1, 2, 3, 0], True),
    # truncated at n inside a pair's run: its level is never emitted
    ([w((0, 1), (3, 2), last=True)], 3, [1, 0, 0], True),
    # truncated at n exactly at the end of a non-final word
    ([w((0, 1), (0, 2), (0, 3)), w((0, 4), last=True)], 3, [1, 2, 3], True),
    # truncated at n with a real pair left in the final word
    ([w((0, 1), (0, 2), last=True)], 1, [1], True),
    # non-canonical pairs decode literally
    ([w((2, 0), (0, 9), last=True)], 5, [0, 0, 0, 9, 0], True),
    ([w((0, 5), (0, 0), (0, 6)), w((0, 7), last=True)], 5, [5, 0, 6, 7, 0], True),
    # too many trailing zeros: zero-filled
    ([w((0, 1), last=True)], 40, [1] + [0] * 39, True),
    # pair after padding, also when n is reached before the padding
    ([w((0, 1), (0, 0), (0, 3), last=True)], 1, [1], True),
    ([w((0, 1), (0, 0), (0, 3), last=True)], 5, [1, 0, 0, 0, 0], True),
    # empty final word
    ([w((0, 1), (0, 2), (0, 3)), w(last=True)], 4, [1, 2, 3, 0], True),
    # empty streams and n = 0
    ([], 3, [0, 0, 0], True),
    ([], 0, [], True),
    ([w((0, 1), last=True)], 0, [], True),
    ([LAST, LAST], 0, [], True),
])
def test_decode_lenient_hand_made(words, n, values, error):
    out, err = decode_lenient(words, n)
    assert out.dtype == np.uint16 and out.tolist() == values
    assert err is error
    # validate must agree on every one of them
    if error:
        with pytest.raises(ValueError):
            validate(words, n)
    else:
        validate(words, n)
