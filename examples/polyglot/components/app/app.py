"""`app` and `banner` (Python): an application behind `web`.

`app` requires the URL `web` provides, writes `app.ini` through a standard
`file` sub-component and provides its socket for `proxy`. `banner` writes a
one-line file itself; `web`, a Rust component, adds one.
"""

from batou_sdk import Attribute, Component, ensure_content, files


class App(Component):
    """An application server's configuration."""

    workers = Attribute(int, default=2, doc="How many worker processes")

    def configure(self) -> None:
        url = self.require_one("web-url")
        ini = f"[app]\nupstream = {url}\nworkers = {self.workers}\nhost = {self.host.name}\n"
        self.add("file", "app.ini", path="app.ini", content=ini, is_template=False)
        self.provide("app-socket", f"{self.workdir}/app.sock")


class Banner(Component):
    """A one-line banner file."""

    path = Attribute(str, doc="Where the banner goes")
    text = Attribute(str, doc="What it says")

    def verify(self) -> None:
        ensure_content(self.path, self.text + "\n")

    def update(self) -> None:
        files.write(self.path, self.text + "\n", mode=0o644)
