"""What the bench/ scripts print of their runs: a median with its range, a ratio to a baseline."""
import statistics as st


def cell(v):
    """'median ms (min-max)' of the runs v, in ms."""
    return f"{st.median(v):.1f} ms ({min(v):.1f}-{max(v):.1f})"


def ratio(a, base):
    """median(a) / median(base), and the range of the runs' own ratios (a[i] / base[i])."""
    pairs = [x / y for x, y in zip(a, base)]
    return f"{st.median(a) / st.median(base):.2f} ({min(pairs):.2f}-{max(pairs):.2f})"
