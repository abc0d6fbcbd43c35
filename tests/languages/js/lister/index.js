// `lister` in JavaScript: lists a folder of its assets, and writes where a
// path is on the target.

import { Component, assets, ensureContent, exportKinds, files } from './batou.js';

class Lister extends Component {
  static kind = 'lister';
  static doc = 'Lists the asset folder `data`';

  configure() {
    const listing = assets.list('data').map((name) => `${name}\n`).join('');
    this.add('file', 'listing', { path: 'listing.txt', content: listing, is_template: false });
  }

  where() {
    return `${files.resolve('sub/../where.txt')}\n`;
  }

  verify() {
    ensureContent('where.txt', this.where());
  }

  update() {
    files.write('where.txt', this.where());
  }
}

export const component = exportKinds(Lister);
