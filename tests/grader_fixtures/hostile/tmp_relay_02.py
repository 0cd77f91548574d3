# ruff: noqa  (a fragment appended to exercise 2's reference solution; deliberately hostile)

# HOSTILE (issue 14.2), exercise 2's half: raise what exercise 1 left in /tmp, so a public test's feedback shows
# exercise 1's hidden inputs. Contained: nothing there, answers right.
_ref_build_cost = build_cost


def build_cost(*args, **kwargs):
    for _d in ("/tmp", "/var/tmp", "/dev/shm"):
        try:
            with open(f"{_d}/nimlab-relay.jsonl") as f:
                raise ValueError(f.read()[-3000:])
        except OSError:
            pass
    return _ref_build_cost(*args, **kwargs)
