"""Reads a DOM (chromium --dump-dom) on stdin and prints what the safety test checks,
as JSON: the title, every element name with its count, every id, every event-handler
attribute, every URL-valued attribute, and the text (without <style>/<script>)."""
import json
import sys
from html.parser import HTMLParser

URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "srcdoc", "poster", "background"}


class Inspector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.ids, self.events, self.urls = {}, [], [], []
        self.text, self.title, self.stack = [], "", []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        for name, value in attrs:
            if name == "id":
                self.ids.append(value)
            if name.startswith("on"):
                self.events.append([tag, name, value])
            if name in URL_ATTRS:
                self.urls.append([tag, name, value])
        self.stack.append(tag)

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop() != tag:
            pass

    def handle_data(self, data):
        current = self.stack[-1] if self.stack else ""
        if current == "title":
            self.title += data
        elif current not in ("style", "script"):
            self.text.append(data)


p = Inspector()
p.feed(sys.stdin.read())
print(json.dumps({
    "title": p.title,
    "tags": p.tags,
    "ids": p.ids,
    "events": p.events,
    "urls": p.urls,
    "text": " ".join(" ".join(p.text).split()),
}))
