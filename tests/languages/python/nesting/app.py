"""`parent`, `child`, `copy` and `port` in Python: the same kinds as
tests/fixtures/nesting (Rust). A parent builds on what its child exposes
and on its checked attributes; `copy` copies a file in pieces; `port`
refuses a value its type cannot."""

import json

from batou_sdk import Attribute, AttributeProblem, Component, UpdateNeeded, ensure_content, files, log


class Parent(Component):
    """Builds on its children's results"""

    name = Attribute(str, doc="Passed to the child")

    def configure(self) -> None:
        log.info("parent: before add")
        child = self.add("child", self.name, name=self.name)
        greeting = child.exposed["greeting"]
        size = child.attributes["size"]
        log.info(f"parent: after add, {child.path} said {json.dumps(greeting)} (size {size})")
        file = self.add("file", "out.txt", path="out.txt", content=greeting)
        self.summary = f"{greeting} / {size} / {file.exposed['path']}\n"

    def verify(self) -> None:
        ensure_content("summary.txt", self.summary)

    def update(self) -> None:
        files.write("summary.txt", self.summary)


class Child(Component):
    """Exposes a greeting"""

    name = Attribute(str, doc="Whom to greet")
    size = Attribute(int, default=3, doc="A default the parent reads")

    def configure(self) -> None:
        log.info("child: configure")
        self.expose("greeting", f"hello {self.name} x{self.size}")


class Copy(Component):
    """Copies a file in pieces"""

    # `from` is a Python keyword: the attribute has another name here.
    from_ = Attribute(str, name="from", doc="The file to copy")
    to = Attribute(str, doc="Where the copy goes")
    piece = Attribute(int, default=1 << 20, doc="Bytes per piece")

    def verify(self) -> None:
        if files.digest(self.to) != files.digest(self.from_):
            raise UpdateNeeded("the copy differs")

    def update(self) -> None:
        copied = 0
        with files.create_writer(self.to, mode=0o600) as out:
            for piece in files.read_chunks(self.from_, self.piece):
                copied += out.write(piece)
        log.info(f"copied {copied} bytes")


class Port(Component):
    """A port number"""

    number = Attribute(int, doc="1 to 65535")
    weight = Attribute("any", default=1, doc="0 to 255")

    def configure(self) -> None:
        if not 1 <= self.number <= 65535:
            raise AttributeProblem("number", f"{self.number} is no port: use 1 to 65535")
