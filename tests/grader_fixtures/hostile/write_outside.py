# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE: leave files where the grader or the next submission would find them; answer correctly.
import os as _os

for _path in ("/tmp/nimlab-hostile-marker", "/var/tmp/nimlab-hostile-marker", "/dev/shm/nimlab-hostile-marker",
              _os.path.join("__REPO__", "nimlab-hostile-marker"),
              "/run/nimlab-hostile-marker", "../nimlab-hostile-marker", "/autograder/results/results.json"):
    try:
        with open(_path, "w") as _f:
            _f.write('{"score": 1000}')
    except OSError:
        pass
