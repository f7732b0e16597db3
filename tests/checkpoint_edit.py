"""One helper for the tests of hostile checkpoints: a copy of a saved trainer with its JSON
metadata or its arrays edited, written the way minigan writes them (an .npz whose "__meta__"
entry is the JSON text)."""
import json

import numpy as np


def rewrite(path, out, meta_edit=None, arrays_edit=None, text_edit=None):
    """A copy of the checkpoint at `path`, written to `out`, with edits applied in order:

    meta_edit(meta)     the JSON as a dict (a value "__INF__" becomes the literal 1e400, which
                        json.dumps cannot write: JSON's way to an overflowing float)
    arrays_edit(arrays) the arrays, a dict name -> ndarray
    text_edit(text)     the JSON as text (for what a dict cannot hold, e.g. deep nesting)
    """
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays.pop("__meta__")))
    if meta_edit:
        meta_edit(meta)
    if arrays_edit:
        arrays_edit(arrays)
    text = json.dumps(meta).replace('"__INF__"', "1e400")
    if text_edit:
        text = text_edit(text)
    np.savez(out, __meta__=np.array(text), **arrays)
    return out
