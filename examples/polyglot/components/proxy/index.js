// `proxy` (JavaScript): a reverse proxy in front of `web` and `app`. It
// requires what both provide and writes `proxy.conf` itself, checking it
// first so that an unchanged file is never rewritten.

import { Component, ensureContent, exportKinds, files } from './batou.js';

class Proxy extends Component {
  static kind = 'proxy';
  static doc = 'A reverse proxy for web and app';
  static attributes = {
    listen: { type: 'integer', default: 80, doc: 'Where the proxy listens' },
  };

  configure() {
    const web = this.requireOne('web-url');
    const app = this.requireOne('app-socket');
    this.conf = `listen ${this.listen}\nroute / ${web}\nroute /app unix:${app}\n`;
  }

  verify() {
    ensureContent('proxy.conf', this.conf);
  }

  update() {
    files.write('proxy.conf', this.conf, { mode: 0o644 });
  }
}

export const component = exportKinds(Proxy);
