// Checks the published contract documents the way an integrator's tools read them.
//
//   node check.mjs --schemas DIR --samples FILE DOCUMENT.yaml...
//
// 1. Each AsyncAPI document is parsed by the AsyncAPI project's own parser; any error-level
//    diagnostic fails the check.
// 2. Each sample event (FILE: one per registered event type, built from the contracts by
//    `tools/contracts.py --samples`) is validated with ajv, in both CloudEvents modes, against
//    every message of its type in the documents (value against the payload, headers against
//    the headers, key against the Kafka binding's key), and against its JSON Schema in DIR
//    (draft 2020-12: the whole schema in structured mode, #/$defs/<model> in binary mode).
// 3. Every message's own examples are validated against its payload and headers.
//
// Prints one line per mode with the counts; exits 1 on any problem.

import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';
import Ajv from 'ajv';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import YAML from 'yaml';

const MODES = {
  structured: 'application/cloudevents+json',
  binary: 'application/json',
};

const { values: options, positionals: documents } = parseArgs({
  options: { schemas: { type: 'string' }, samples: { type: 'string' } },
  allowPositionals: true,
});
if (!options.schemas || !options.samples || documents.length === 0) {
  console.error('usage: node check.mjs --schemas DIR --samples FILE DOCUMENT.yaml...');
  process.exit(2);
}

const problems = [];

function validator(AjvClass) {
  const ajv = new AjvClass({ strict: false, allErrors: true });
  addFormats(ajv);
  return ajv;
}

function explain(errors) {
  return errors.map((e) => `${e.instancePath || '<root>'} ${e.message}`).join('; ');
}

// 1. The AsyncAPI parser.
const parser = new Parser();
const parsed = [];
for (const file of documents) {
  const text = fs.readFileSync(file, 'utf8');
  const { diagnostics } = await parser.parse(text, { source: path.resolve(file) });
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  for (const d of errors) problems.push(`${file}: ${d.code}: ${d.message} at ${d.path.join('.')}`);
  console.log(`parser: ${file}: ${errors.length} errors, ${diagnostics.length - errors.length} other diagnostics`);
  parsed.push({ file, raw: YAML.parse(text) });
}

// The documents' schemas, with their $refs, for ajv (AsyncAPI schemas extend JSON Schema draft-07).
const asyncapi = validator(Ajv);
const messages = []; // every message of every document: {file, id, name, mode, pointer, message}
parsed.forEach(({ file, raw }, index) => {
  const base = `urn:eps:asyncapi:${index}`;
  asyncapi.addSchema(raw, base);
  for (const [id, message] of Object.entries(raw.components?.messages ?? {})) {
    const mode = Object.keys(MODES).find((m) => MODES[m] === (message.contentType ?? raw.defaultContentType));
    messages.push({ file, id, name: message.name, mode, pointer: `${base}#/components/messages/${id}`, message });
  }
});

function check(pointer, part, value) {
  const validate = asyncapi.getSchema(`${pointer}/${part}`);
  if (validate === undefined) return `no ${part}`;
  return validate(value) ? null : explain(validate.errors);
}

const jsonSchemas = validator(Ajv2020);
const schemaIds = {};
for (const name of fs.readdirSync(options.schemas).filter((n) => n.endsWith('.json')).sort()) {
  const schema = JSON.parse(fs.readFileSync(path.join(options.schemas, name), 'utf8'));
  if (schema.$schema !== 'https://json-schema.org/draft/2020-12/schema' || !schema.$id) {
    problems.push(`${name}: no $schema of draft 2020-12 or no $id`);
  }
  jsonSchemas.addSchema(schema);
  schemaIds[schema.properties?.type?.const] = schema.$id;
}

// 2. Every sample, both modes.
const samples = JSON.parse(fs.readFileSync(options.samples, 'utf8'));
const tally = {};
for (const mode of Object.keys(MODES)) {
  tally[mode] = { messages: 0, messagesValid: 0, events: 0, eventsValid: 0 };
}
for (const sample of samples) {
  for (const mode of Object.keys(MODES)) {
    const record = sample[mode];
    const count = tally[mode];
    count.events += 1;
    const own = messages.filter((m) => m.name === sample.event_type && m.mode === mode);
    const faults = [];
    if (own.length === 0) faults.push(`no ${mode}-mode message of this type in any document`);
    for (const m of own) {
      count.messages += 1;
      const found = [
        ['payload', check(m.pointer, 'payload', record.value)],
        ['headers', check(m.pointer, 'headers', record.headers)],
        ['key', check(m.pointer, 'bindings/kafka/key', record.key)],
      ].filter(([, fault]) => fault !== null);
      if (found.length === 0) count.messagesValid += 1;
      for (const [part, fault] of found) faults.push(`${m.file} ${m.id} ${part}: ${fault}`);
    }
    const id = schemaIds[sample.event_type];
    const schema = id && jsonSchemas.getSchema(mode === 'structured' ? id : `${id}#/$defs/${sample.model}`);
    if (!schema) faults.push('no JSON Schema');
    else if (!schema(record.value)) faults.push(`JSON Schema ${schema.schema.$id ?? id}: ${explain(schema.errors)}`);
    if (faults.length === 0) count.eventsValid += 1;
    for (const fault of faults) problems.push(`${sample.event_type} (${mode} mode): ${fault}`);
  }
}

// 3. The examples the documents publish.
const sampled = new Set(samples.map((s) => s.event_type));
for (const m of messages) {
  if (m.mode !== undefined && !sampled.has(m.name)) problems.push(`${m.file} ${m.id}: no sample of ${m.name}`);
  (m.message.examples ?? []).forEach((example, i) => {
    for (const part of ['payload', 'headers']) {
      const fault = part in example ? check(m.pointer, part, example[part]) : null;
      if (fault !== null) problems.push(`${m.file} ${m.id} example ${i} ${part}: ${fault}`);
    }
  });
}

for (const [mode, c] of Object.entries(tally)) {
  console.log(
    `${mode} mode: ${c.messagesValid}/${c.messages} messages valid against their AsyncAPI payload,` +
      ` headers and key; ${c.eventsValid}/${c.events} event types valid against their AsyncAPI` +
      ` messages and JSON Schema`,
  );
}
for (const problem of problems) console.error(problem);
process.exit(problems.length === 0 ? 0 : 1);
