"""`lister` in Python: lists a folder of its assets, and writes where a
path is on the target."""

from batou_sdk import Component, assets, ensure_content, files


class Lister(Component):
    """Lists the asset folder `data`"""

    def configure(self) -> None:
        listing = "".join(f"{name}\n" for name in assets.list("data"))
        self.add("file", "listing", path="listing.txt", content=listing, is_template=False)

    def where(self) -> str:
        return files.resolve("sub/../where.txt") + "\n"

    def verify(self) -> None:
        ensure_content("where.txt", self.where())

    def update(self) -> None:
        files.write("where.txt", self.where())
