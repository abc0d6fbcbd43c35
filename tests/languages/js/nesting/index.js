// `parent`, `child`, `copy` and `port` in JavaScript: the same kinds as
// tests/fixtures/nesting (Rust). A parent builds on what its child exposes
// and on its checked attributes; `copy` copies a file in pieces; `port`
// refuses a value its type cannot.

import { AttributeProblem, Component, UpdateNeeded, ensureContent, exportKinds, files, log } from './batou.js';

class Parent extends Component {
  static kind = 'parent';
  static doc = "Builds on its children's results";
  static attributes = {
    name: { type: 'string', doc: 'Passed to the child' },
  };

  configure() {
    log.info('parent: before add');
    const child = this.add('child', this.name, { name: this.name });
    const greeting = child.exposed.greeting;
    const size = child.attributes.size;
    log.info(`parent: after add, ${child.path} said ${JSON.stringify(greeting)} (size ${size})`);
    const file = this.add('file', 'out.txt', { path: 'out.txt', content: greeting });
    this.summary = `${greeting} / ${size} / ${file.exposed.path}\n`;
  }

  verify() {
    ensureContent('summary.txt', this.summary);
  }

  update() {
    files.write('summary.txt', this.summary);
  }
}

class Child extends Component {
  static kind = 'child';
  static doc = 'Exposes a greeting';
  static attributes = {
    name: { type: 'string', doc: 'Whom to greet' },
    size: { type: 'integer', default: 3, doc: 'A default the parent reads' },
  };

  configure() {
    log.info('child: configure');
    this.expose('greeting', `hello ${this.name} x${this.size}`);
  }
}

class Copy extends Component {
  static kind = 'copy';
  static doc = 'Copies a file in pieces';
  static attributes = {
    from: { type: 'string', doc: 'The file to copy' },
    to: { type: 'string', doc: 'Where the copy goes' },
    piece: { type: 'integer', default: 1 << 20, doc: 'Bytes per piece' },
  };

  verify() {
    if (files.digest(this.to) !== files.digest(this.from)) throw new UpdateNeeded('the copy differs');
  }

  update() {
    const copied = files.withWriter(this.to, (out) => {
      let n = 0;
      for (const piece of files.readChunks(this.from, this.piece)) {
        out.append(piece);
        n += piece.length;
      }
      return n;
    }, { mode: 0o600 });
    log.info(`copied ${copied} bytes`);
  }
}

class Port extends Component {
  static kind = 'port';
  static doc = 'A port number';
  static attributes = {
    number: { type: 'integer', doc: '1 to 65535' },
    weight: { type: 'any', default: 1, doc: '0 to 255' },
  };

  configure() {
    if (!(this.number >= 1 && this.number <= 65535)) {
      throw new AttributeProblem('number', `${this.number} is no port: use 1 to 65535`);
    }
  }
}

export const component = exportKinds(Parent, Child, Copy, Port);
