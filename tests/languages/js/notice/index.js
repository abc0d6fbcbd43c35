// `notice` in JavaScript: the same kind as tests/fixtures/notice (Rust).

import { Component, ensureContent, ensureMode, exportKinds, files, model } from './batou.js';

class Notice extends Component {
  static kind = 'notice';
  static doc = 'A notice file, the same in every SDK';
  static attributes = {
    path: { type: 'string', doc: 'Where the notice goes' },
    title: { type: 'string', doc: 'Its heading' },
    lines: { type: 'list', of: 'string', default: [], doc: 'Its lines' },
    mode: { type: 'mode', default: 0o640, doc: 'Its permission bits' },
  };

  text() {
    return `# ${this.title}\n` + this.lines.map((line) => `- ${line}\n`).join('');
  }

  configure() {
    const summary = `${this.title} has ${this.lines.length} lines on ${model.host().name}\n`;
    this.add('file', 'summary', { path: `${this.path}.summary`, content: summary, is_template: false });
  }

  verify() {
    ensureContent(this.path, this.text());
    ensureMode(this.path, this.mode);
  }

  update() {
    files.write(this.path, this.text(), { mode: this.mode });
    files.setMode(this.path, this.mode);
  }
}

export const component = exportKinds(Notice);
