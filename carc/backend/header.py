"""The scratch header's layout and the link ABI's signatures: what the kernel library reads, the code
generator writes and carc.backend.linkage calls through (plain constants: no numba import here).

>>> HEAD_TABLES > HEAD_GAMMA
True
"""

from __future__ import annotations

# The scratch header: int64 words at the start of the scratch buffer (floats are stored by their bits).
HEAD_WORDS = 0  # how many words the header has (fixed part and tables)
HEAD_NSTATE = 1
HEAD_FLOAT_SLOTS = 2
HEAD_INT_BASE = 3
HEAD_RUN_TABLES = 4
HEAD_MASK_BYTES = 5
HEAD_LANES = 6
HEAD_STEP_PASS = 7  # where the step's perception pass table starts (0: the step perceives nothing)
HEAD_RESET_PASS = 8  # where the reset's perception pass table starts (0: the reset perceives nothing)
HEAD_PROGRAM = 9  # link of the program's _program function
HEAD_NSUB = 10
HEAD_NSTAGE = 11
HEAD_SHAPING = 12  # 1 when the program has shaping
HEAD_LOW = 13  # float bits: the reward bounds and the shaping discount
HEAD_HIGH = 14
HEAD_GAMMA = 15
HEAD_TABLES = 16  # stage starts (NSTAGE + 1), sub-tasks in stage order (NSUB), bonuses' bits (NSUB), pass tables
# A perception pass table: the classifier's link, the pixel and object colour bits, then (MAX_COLORS
# each) where each colour's pixel statistics, objects and object count go, and which run table holds
# its spans (-1: not this pass's).
PASS_CLASSIFY = 0
PASS_PIX = 1
PASS_OBJ = 2
PASS_PIX_AT = 3
HEAD_NAMES = {name: value for name, value in dict(globals()).items() if name.startswith(("HEAD_", "PASS_"))}

# Link numbers of a standalone artifact (its own functions, called by name).
LINK_CLASSIFY_STEP = 1
LINK_CLASSIFY_RESET = 2
LINK_PROGRAM = 3

CLASSIFY_SIGNATURE = "int64(uint8[::1], uint8[::1], int64[::1], int64, int64, int64)"
PROGRAM_SIGNATURE = "int64(int64, float64[::1], int64[::1], float64[:], int64, int64, float64[::1])"
