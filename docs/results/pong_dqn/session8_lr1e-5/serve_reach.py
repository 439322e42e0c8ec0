# Share of Pong-v0 serves towards the agent that no paddle can reach, even one waiting at the
# field's centre, from the serve rules in sim/src/arcade/pong.rs (constants copied here):
# serve row uniform in FIELD_TOP+24 ..= FIELD_BOTTOM-28, vertical speed one of SERVE_VY/8 of
# BASE_VX (2 px per frame), ball from column 78 to the agent's face at 138 (30 frames), walls
# reflect, paddle 2 px per frame, ball centre within 10 px of the paddle centre to touch.
# `react` = frames before the agent sees the ball and can start moving (one or two agent steps
# of 4 frames). Run: python3 serve_reach.py
FIELD_TOP, FIELD_BOTTOM, BALL_H = 34, 194, 4
FRAMES, PADDLE_SPEED, TOUCH = 30, 2, 10
CENTRE = (FIELD_TOP + FIELD_BOTTOM) // 2

def fold(y, lo, hi):
    span = hi - lo
    m = (y - lo) % (2 * span)
    return lo + (2 * span - m if m > span else m)

for react in (4, 8):
    serves = unreachable = 0
    for row in range(FIELD_TOP + 24, FIELD_BOTTOM - 28 + 1):
        for vy in (-5, -2, 2, 5):
            arrive = fold(row + vy / 8 * 2 * FRAMES, FIELD_TOP, FIELD_BOTTOM - BALL_H) + BALL_H / 2
            serves += 1
            unreachable += abs(arrive - CENTRE) > (FRAMES - react) * PADDLE_SPEED + TOUCH
    print(f"reaction {react} frames: {unreachable}/{serves} = {unreachable / serves:.1%} unreachable")
