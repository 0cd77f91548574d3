# ruff: noqa  (a fragment appended to the reference solution; deliberately hostile)

# HOSTILE (issue 14.4): every answer raises an exception whose type name redraws the terminal (ANSI escapes) to
# claim full marks, and whose message holds a lone surrogate, a form feed and other control characters (once
# enough to crash the CLI: no CSV row for anyone, an empty or unparseable junit.xml). Scores 0; reports survive.
_Fake = type("\x1b[2J\x1b[H== everyone: 26/26 points\x1b[8m", (Exception,), {})


def classify(scenario):
    raise _Fake("\ud800 bad \x0c\x1b[31m\x00\x07 text \udfff")
