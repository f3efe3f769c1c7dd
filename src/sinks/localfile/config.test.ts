import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseYaml } from '../../config/load.js';
import type { SectionContext } from '../../config/section.js';
import { ConfigError } from '../../util/errors.js';
import { DEFAULT_DELIMITER, parseLocalfileConfig } from './config.js';
import { localfileSinkDefinition } from './sink.js';

const section: SectionContext = { path: 'metric_sinks[0].config', envPrefix: '', env: {}, strict: true };

function delimiterOf(raw: unknown): string {
  return parseLocalfileConfig({ flush_file: '/tmp/f.gz', ...(raw as object) }, section).delimiter;
}

/** The `config:` map of the first sink, decoded from YAML text exactly as the loader does. */
function fromYaml(configLines: string): unknown {
  const text = `metric_sinks:\n  - kind: localfile\n    name: archive\n    config:\n${configLines}`;
  const doc = parseYaml(text, 'test.yaml') as { metric_sinks: { config: unknown }[] };
  return doc.metric_sinks[0]!.config;
}

describe('localfile config', () => {
  it('takes flush_file and defaults the delimiter to a tab (Go has no default)', () => {
    const c = parseLocalfileConfig({ flush_file: '/var/tmp/veneur.tsv.gz' }, section);
    assert.deepEqual(c, { flushFile: '/var/tmp/veneur.tsv.gz', delimiter: '\t' });
    assert.equal(DEFAULT_DELIMITER, '\t');
    assert.ok(Object.isFrozen(c));
    assert.equal(localfileSinkDefinition.kind, 'localfile');
    assert.deepEqual(localfileSinkDefinition.parseConfig({ flush_file: 'x' }, section), {
      flushFile: 'x',
      delimiter: '\t',
    });
  });

  it('accepts the delimiter forms a user writes', () => {
    assert.equal(delimiterOf({ delimiter: ',' }), ',');
    assert.equal(delimiterOf({ delimiter: '\t' }), '\t');
    assert.equal(delimiterOf({ delimiter: '\\t' }), '\t', 'backslash-t as YAML keeps it in single quotes');
    assert.equal(delimiterOf({ delimiter: '|' }), '|');
    assert.equal(delimiterOf({ delimiter: ';' }), ';');
    assert.equal(delimiterOf({ delimiter: '¦' }), '¦');
    assert.equal(delimiterOf({ delimiter: '😀' }), '😀', 'one code point, two UTF-16 units');
    assert.equal(delimiterOf({ delimiter: 9 }), '\t', 'a code point, as Go decodes its rune field');
    assert.equal(delimiterOf({ delimiter: 44 }), ',');
    assert.equal(delimiterOf({ delimiter: 0 }), '\t', 'Go zero value -> default');
    assert.equal(delimiterOf({ delimiter: '' }), '\t');
    assert.equal(delimiterOf({ delimiter: null }), '\t', '`delimiter:` with no value');
  });

  it('reads the YAML escape forms', () => {
    const cases: [string, string][] = [
      ['      flush_file: /tmp/a.gz\n      delimiter: "\\t"\n', '\t'],
      ["      flush_file: /tmp/a.gz\n      delimiter: '\\t'\n", '\t'],
      ['      flush_file: /tmp/a.gz\n      delimiter: \\t\n', '\t'],
      ['      flush_file: /tmp/a.gz\n      delimiter: "\t"\n', '\t'],
      ['      flush_file: /tmp/a.gz\n      delimiter: ","\n', ','],
      ["      flush_file: /tmp/a.gz\n      delimiter: ','\n", ','],
      ['      flush_file: /tmp/a.gz\n      delimiter: "|"\n', '|'],
      ['      flush_file: /tmp/a.gz\n      delimiter: 9\n', '\t'],
      ['      flush_file: /tmp/a.gz\n      delimiter:\n', '\t'],
      ['      flush_file: /tmp/a.gz\n', '\t'],
    ];
    for (const [yaml, want] of cases) {
      assert.equal(parseLocalfileConfig(fromYaml(yaml), section).delimiter, want, yaml);
    }
  });

  it('overlays the sink-name environment variables', () => {
    const c = parseLocalfileConfig(
      { flush_file: '/from/yaml.gz' },
      {
        ...section,
        envPrefix: 'ARCHIVE',
        env: { ARCHIVE_FLUSHFILE: '/from/env.gz', ARCHIVE_DELIMITER: '\\t' },
      },
    );
    assert.deepEqual(c, { flushFile: '/from/env.gz', delimiter: '\t' });
    const d = parseLocalfileConfig(undefined, {
      ...section,
      envPrefix: 'ARCHIVE',
      env: { ARCHIVE_FLUSHFILE: '/e.gz', ARCHIVE_DELIMITER: ',' },
    });
    assert.deepEqual(d, { flushFile: '/e.gz', delimiter: ',' });
  });

  it('names the YAML path in errors', () => {
    const cases: [unknown, string, RegExp][] = [
      [{}, 'metric_sinks[0].config.flush_file', /required/],
      [undefined, 'metric_sinks[0].config.flush_file', /required/],
      [{ flush_file: '' }, 'metric_sinks[0].config.flush_file', /required/],
      [{ flush_file: ['a'] }, 'metric_sinks[0].config.flush_file', /expected/],
      [{ flush_file: 'f', delimiter: 'ab' }, 'metric_sinks[0].config.delimiter', /single character.*2/],
      [{ flush_file: 'f', delimiter: '"' }, 'metric_sinks[0].config.delimiter', /double quote/],
      [{ flush_file: 'f', delimiter: '\n' }, 'metric_sinks[0].config.delimiter', /line break/],
      [{ flush_file: 'f', delimiter: '\r' }, 'metric_sinks[0].config.delimiter', /line break/],
      [{ flush_file: 'f', delimiter: '\0' }, 'metric_sinks[0].config.delimiter', /NUL/],
      [{ flush_file: 'f', delimiter: '\ufffd' }, 'metric_sinks[0].config.delimiter', /FFFD/],
      [{ flush_file: 'f', delimiter: 34 }, 'metric_sinks[0].config.delimiter', /double quote/],
      [{ flush_file: 'f', delimiter: 1.5 }, 'metric_sinks[0].config.delimiter', /code point/],
      [{ flush_file: 'f', delimiter: -1 }, 'metric_sinks[0].config.delimiter', /code point/],
      [{ flush_file: 'f', delimiter: 0xd800 }, 'metric_sinks[0].config.delimiter', /surrogate/],
      [{ flush_file: 'f', delimiter: true }, 'metric_sinks[0].config.delimiter', /single character/],
      [{ flush_file: 'f', interval: 10 }, 'metric_sinks[0].config.interval', /unknown key/],
      ['flush.gz', 'metric_sinks[0].config', /map of settings/],
    ];
    for (const [raw, path, message] of cases) {
      assert.throws(
        () => parseLocalfileConfig(raw, section),
        (e: unknown) => {
          assert.ok(e instanceof ConfigError, String(e));
          assert.equal(e.path, path, JSON.stringify(raw));
          assert.match(e.message, message);
          assert.ok(e.message.startsWith(`${path}: `), e.message);
          return true;
        },
        JSON.stringify(raw),
      );
    }
  });

  it('tolerates unknown keys when not strict', () => {
    const seen: string[] = [];
    const c = parseLocalfileConfig(
      { flush_file: 'f', extra: 1 },
      { ...section, strict: false, onIgnored: (p) => seen.push(p) },
    );
    assert.equal(c.flushFile, 'f');
    assert.deepEqual(seen, ['metric_sinks[0].config.extra']);
  });
});
