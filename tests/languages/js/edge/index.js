// `edge` in JavaScript: the edge cases of tests/integration/edge_cases.rs,
// the same as tests/fixtures/edge (Rust) and tests/languages/python/edge;
// see the Python one for what each `case` does. Errors are not caught:
// each goes to the runner as the SDK maps it.

import { Component, exportKinds, files, model } from './batou.js';

const CASES = ['provide', 'require-none', 'require-strict', 'require-two', 'wrong-type', 'missing', 'denied', 'trap'];

class Edge extends Component {
  static kind = 'edge';
  static doc = 'Runs into one edge case';
  static attributes = {
    case: { choices: CASES, doc: 'Which edge case' },
  };

  configure() {
    if (this.case === 'provide') this.provide('edge-two', model.path());
    else if (this.case === 'require-none') this.requireOne('edge-none', { strict: false });
    else if (this.case === 'require-strict') this.requireOne('edge-none');
    else if (this.case === 'require-two') this.requireOne('edge-two');
  }

  verify() {
    if (this.case === 'wrong-type') files.read('folder');
    else if (this.case === 'missing') files.read('missing.txt');
    else if (this.case === 'denied') files.read('/etc/passwd');
    else if (this.case === 'trap') throw new TypeError('edge trap in verify');
  }
}

export const component = exportKinds(Edge);
