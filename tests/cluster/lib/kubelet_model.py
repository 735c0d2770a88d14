"""What a real kubelet (v1.36.3, containerd 1.6) posts on its Node while its
container runtime is frozen, as measured on this kind of machine
(docs/testing.md, "The simulator and the real kubelet"; the recordings are
tests/testdata/real-kubelet/*.json). tests/cluster/sim-player plays it on
simulated nodes, tests/cluster/lib/sim_api.py uses it when one heals, and
tests/cluster/tests/sim_fidelity_test.py compares both with the recordings.

The real timeline, in seconds after the runtime froze (t = 0):

  0 - 125   Ready=True as last posted: every CRI call hangs until the kubelet's
            2-minute runtime-request timeout, and the node status update
            waits behind them. Pods are no longer synced (a deleted pod stays
            Running with its deletionTimestamp; a new one is not started).
  125       first post: Ready=False, KubeletNotReady, "container runtime is down"
  255       next post (a call timed out again, 130 s later): the PLEG has not
            relisted for more than its 3m0s threshold, so the message becomes
            "[container runtime is down, PLEG is not healthy: pleg was last
            seen active 4m15.39s ago; threshold is 3m0s]"
  +130 k    re-posted each time a call times out; between posts nothing
            changes, the "last seen active" figure included
  always    the node Lease is renewed (lease renewal does not touch the CRI),
            so the node never goes Unknown

After the runtime is back (restarted, or thawed with SIGCONT) at t = h: a post
at h+1 ("container runtime is down" already gone when thawed; still there,
with a fresh PLEG figure, when restarted, because the runtime status check
runs every 5 s), pods are synced again (deletions finalized within seconds),
and Ready=True at the next regular status update, h+11.

Post times are a grid (125 + 130 k), not wall-clock readings: a post's
content, the PLEG figure included, is a function of its grid index, so a
player that was late, restarted or replayed posts exactly the same messages.
A time scale (`factor`: simulated seconds per wall-clock second, 1 = real,
50 = the default "fast") shrinks the grid; the messages keep real-time
figures (a scaled "last seen active 5.1s ago; threshold is 3m0s" would say the
PLEG is healthy). The node Lease is renewed every 5 wall-clock seconds at any
scale: kube-controller-manager's grace period (20 s here) does not scale.

Standard library only; importable, and a small command line for sim (bash):
  kubelet_model.py timing TEXT                      the factor of a --timing value
  kubelet_model.py first-visible KIND FACTOR FIXED  wall seconds until the sick
                                                    message a command waits for
"""

import datetime
import sys
import zlib

# Seconds of real time after the fault (see the module comment).
RUNTIME_DOWN_AFTER = 125.0
REPOST_EVERY = 130.0
PLEG_THRESHOLD = 180.0
HEAL_POST_AFTER = 1.0
HEAL_READY_AFTER = 11.0
# Wall-clock seconds, never scaled.
LEASE_RENEW_SECONDS = 5.0

FAST_FACTOR = 50.0
TIMINGS = {"fast": FAST_FACTOR, "real": 1.0}

READY_MESSAGE = "kubelet is posting ready status"
RUNTIME_DOWN = "container runtime is down"
THRESHOLD_TEXT = "3m0s"

# Simulated states the player drives (sim: nodeguard.io/sim-state).
PLEG_SICK = "pleg-sick"
RUNTIME_DOWN_STATE = "runtime-down"
PLAYED_STATES = (PLEG_SICK, RUNTIME_DOWN_STATE)


def parse_timing(text):
    """The factor of a --timing value: fast, real, or a number of simulated
    seconds per wall-clock second (0.1 .. 1000). Raises ValueError."""
    if text in TIMINGS:
        return TIMINGS[text]
    factor = float(text)
    if not 0.1 <= factor <= 1000:
        raise ValueError(f"timing factor {text} is outside 0.1 .. 1000")
    return factor


def go_duration(seconds):
    """Go's time.Duration.String() of a non-negative duration (nanosecond
    precision): 4m15.39018554s, 1h2m3s, 0s, 500ms."""
    ns = int(round(seconds * 1e9))
    if ns == 0:
        return "0s"
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if ns >= size:
                whole, frac = divmod(ns, size)
                digits = len(str(size)) - 1
                text = str(whole)
                if frac:
                    text += "." + str(frac).rjust(digits, "0").rstrip("0")
                return text + unit
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    secs, frac = divmod(rest, 10**9)
    text = f"{secs}"
    if frac:
        text += "." + str(frac).rjust(9, "0").rstrip("0")
    text += "s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    if minutes:
        return f"{minutes}m{text}"
    return text


def relist_offset(node):
    """How long before the fault the node's PLEG last relisted (it relists
    every second): a fixed fraction of a second per node, so messages differ
    between nodes as real ones do, and never between replays."""
    return (zlib.crc32(node.encode()) % 1_000_000_000) / 1e9


def pleg_part(node, elapsed):
    """The PLEG error at `elapsed` real seconds after the fault."""
    seen = go_duration(elapsed + relist_offset(node))
    return f"PLEG is not healthy: pleg was last seen active {seen} ago; threshold is {THRESHOLD_TEXT}"


def pleg_unhealthy(node, elapsed):
    return elapsed + relist_offset(node) > PLEG_THRESHOLD


def aggregate(parts):
    """utilerrors.NewAggregate(...).Error(): one error bare, several in brackets."""
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0]
    return "[" + ", ".join(parts) + "]"


def post_time(k, fixed):
    """Real seconds after the fault of post k (k >= 0). A fixed message (an
    older kubelet's form, `sim pleg-sick --form/--message`) is posted at once
    and then re-posted at the same cadence."""
    return (0.0 if fixed else RUNTIME_DOWN_AFTER) + k * REPOST_EVERY


def post_due(elapsed, fixed):
    """The index of the last post due by `elapsed` real seconds, or None."""
    first = post_time(0, fixed)
    if elapsed < first:
        return None
    return int((elapsed - first) // REPOST_EVERY)


def post_message(state, node, k, fixed_message=None):
    """The Ready message of post k for a node in `state`."""
    if fixed_message:
        return fixed_message
    elapsed = post_time(k, False)
    parts = [RUNTIME_DOWN]
    if state == PLEG_SICK and pleg_unhealthy(node, elapsed):
        parts.append(pleg_part(node, elapsed))
    return aggregate(parts)


def first_visible(state, factor, fixed):
    """Wall seconds after the fault until the message a `sim pleg-sick` or
    `sim runtime-down` waits for is posted."""
    if fixed:
        return 0.0
    k = 0
    if state == PLEG_SICK:
        # The first post whose PLEG figure is past the threshold (the
        # relist offset is below one second).
        while post_time(k, False) + 1.0 <= PLEG_THRESHOLD:
            k += 1
    return post_time(k, False) / factor


def heal_plan(state, node, elapsed, fixed_message, ready_status, thawed):
    """What the node shows once its runtime is back, `elapsed` real seconds
    after the fault: (message of the post at +1 s or None, real seconds after
    the heal until Ready=True). None as the message: no intermediate post
    (Ready goes straight to True at the given time; a node still showing
    Ready=True goes at once)."""
    if ready_status != "False":
        return None, 0.0
    if fixed_message:
        return None, HEAL_READY_AFTER
    after = elapsed + HEAL_POST_AFTER
    parts = []
    if not thawed and elapsed >= RUNTIME_DOWN_AFTER:
        parts.append(RUNTIME_DOWN)
    if state == PLEG_SICK and pleg_unhealthy(node, after):
        parts.append(pleg_part(node, after))
    if not parts:
        return None, HEAL_POST_AFTER
    return aggregate(parts), HEAL_READY_AFTER


# ---------------------------------------------------------------- times


def parse_rfc3339(text):
    """RFC 3339 with optional fraction ('Z' only, as written here and by the
    API server) -> seconds since the epoch, or None."""
    if not text:
        return None
    text = text.strip()
    if not text.endswith("Z"):
        return None
    base, _, frac = text[:-1].partition(".")
    try:
        t = datetime.datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(
            tzinfo=datetime.timezone.utc).timestamp()
    except ValueError:
        return None
    if frac:
        if not frac.isdigit():
            return None
        t += float("0." + frac)
    return t


def rfc3339(t, digits=0):
    """Seconds since the epoch -> RFC 3339 UTC with `digits` fractional digits
    (0: seconds, as Node conditions carry them; 6: a Lease's MicroTime)."""
    whole = int(t)
    base = datetime.datetime.fromtimestamp(whole, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S")
    if digits:
        frac = int((t - whole) * 10**digits)
        base += "." + str(frac).rjust(digits, "0")
    return base + "Z"


# ---------------------------------------------------------------- command line


def main(argv):
    if len(argv) == 3 and argv[1] == "timing":
        try:
            print(parse_timing(argv[2]))
        except ValueError as e:
            print(e, file=sys.stderr)
            return 1
        return 0
    if len(argv) == 5 and argv[1] == "first-visible":
        print(f"{first_visible(argv[2], float(argv[3]), argv[4] == '1'):.3f}")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
