"""`notice` in Python: the same kind as tests/fixtures/notice (Rust)."""

from batou_sdk import Attribute, Component, ensure_content, ensure_mode, files


class Notice(Component):
    """A notice file, the same in every SDK"""

    path = Attribute(str, doc="Where the notice goes")
    title = Attribute(str, doc="Its heading")
    lines = Attribute(list[str], default=[], doc="Its lines")
    mode = Attribute("mode", default=0o640, doc="Its permission bits")

    def text(self) -> str:
        return f"# {self.title}\n" + "".join(f"- {line}\n" for line in self.lines)

    def configure(self) -> None:
        summary = f"{self.title} has {len(self.lines)} lines on {self.host.name}\n"
        self.add("file", "summary", path=f"{self.path}.summary", content=summary, is_template=False)

    def verify(self) -> None:
        ensure_content(self.path, self.text())
        ensure_mode(self.path, self.mode)

    def update(self) -> None:
        files.write(self.path, self.text(), mode=self.mode)
        files.set_mode(self.path, self.mode)
