/// An example module of two kinds, written with the JavaScript SDK.
///
/// `jsfile` composes the standard library's `file` kind; `jsnote` manages
/// its file itself, batou-style: verify compares, update writes.

import { Component, UpdateNeeded, exportKinds, files, log, sha256 } from './batou.js';

/// A file whose content the standard `file` kind manages.
class JsFile extends Component {
  static kind = 'jsfile';
  static doc = 'A file, through the standard file component';
  static attributes = {
    path: { type: 'string', doc: 'Where; relative paths are below the workdir' },
    content: { type: 'string', default: '', doc: 'What the file holds' },
  };

  configure() {
    // The standard `file` renders content as a Jinja2 template by default;
    // this content is literal text.
    this.add('file', this.path, { path: this.path, content: this.content, is_template: false });
  }
}

/// A file this component writes itself.
class JsNote extends Component {
  static kind = 'jsnote';
  static doc = 'A note written by the component itself';
  static attributes = {
    path: { type: 'string', doc: 'Where; relative paths are below the workdir' },
    content: { type: 'string', doc: 'What the note says' },
    mode: { type: 'mode', default: null, doc: 'Permission bits of a new note' },
  };

  verify() {
    // The digest is computed on the target, so an unchanged note is not
    // read; sha256 in JavaScript is slow (seconds per MiB), but a note is
    // small. (ensureContent(this.path, this.content) compares bytes.)
    const digest = files.digest(this.path);
    if (digest === null) {
      log.diff(this.path, '', this.content);
      throw new UpdateNeeded(`${this.path} is missing`);
    }
    if (digest === sha256(this.content)) return;
    const current = files.readText(this.path);
    log.diff(this.path, current, this.content);
    throw new UpdateNeeded('content changed');
  }

  update() {
    files.write(this.path, this.content, { mode: this.mode });
    log.info(`wrote ${this.path}`);
  }
}

export const component = exportKinds(JsFile, JsNote);
