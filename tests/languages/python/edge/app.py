"""`edge` in Python: the edge cases of tests/integration/edge_cases.rs, the
same as tests/fixtures/edge (Rust) and tests/languages/js/edge.

`case` says which one this root runs into:

- `provide`: provides `edge-two` (two such roots give it two values);
- `require-none`: the one value of `edge-none`, which nobody provides
  (required not strictly, so that the SDK's message shows);
- `require-strict`: the same, strictly (the default): the runner reports it;
- `require-two`: the one value of `edge-two`, provided twice;
- `wrong-type`: in verify, reads the directory `folder` as a file;
- `missing`: in verify, reads `missing.txt`, which is not there;
- `denied`: in verify, reads `/etc/passwd`, outside the root's grants;
- `trap`: in verify, fails as a bug does in Python: an uncaught exception
  (Rust panics, which traps).

Errors are not caught: each goes to the runner as the SDK maps it.
"""

from batou_sdk import Attribute, Component, files

CASES = ["provide", "require-none", "require-strict", "require-two", "wrong-type", "missing", "denied", "trap"]


class Edge(Component):
    """Runs into one edge case"""

    case = Attribute(choices=CASES, doc="Which edge case")

    def configure(self) -> None:
        if self.case == "provide":
            self.provide("edge-two", self.component_path)
        elif self.case == "require-none":
            self.require_one("edge-none", strict=False)
        elif self.case == "require-strict":
            self.require_one("edge-none")
        elif self.case == "require-two":
            self.require_one("edge-two")

    def verify(self) -> None:
        if self.case == "wrong-type":
            files.read("folder")
        elif self.case == "missing":
            files.read("missing.txt")
        elif self.case == "denied":
            files.read("/etc/passwd")
        elif self.case == "trap":
            raise RuntimeError("edge trap in verify")
