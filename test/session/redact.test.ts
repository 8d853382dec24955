/** --redact: published copies only, every other byte kept. */
import { describe, expect, it } from 'vitest';
import { Redactor, REDACTED } from '../../src/session/redact.js';

describe('Redactor', () => {
  const r = new Redactor(['Authorization', 'token', 'api key']);

  it('replaces header values by case-insensitive name, leaving the list itself alone', () => {
    const headers = [['authorization', 'Bearer x'], ['Host', 'h'], ['AUTHORIZATION', 'y']] as const;
    expect(r.headers(headers)).toEqual([['authorization', REDACTED], ['Host', 'h'], ['AUTHORIZATION', REDACTED]]);
    expect(headers[0][1]).toBe('Bearer x');
    const untouched = [['Host', 'h']] as const;
    expect(r.headers(untouched)).toBe(untouched);
  });

  it('replaces query values by exact (or decoded) name and keeps every other byte', () => {
    expect(r.target('/p?token=abc&x=%20+1&&token&Token=k#frag')).toBe('/p?token=<redacted>&x=%20+1&&token=<redacted>&Token=k#frag');
    expect(r.target('ws://h/p?api+key=1&api%20key=2')).toBe('ws://h/p?api+key=<redacted>&api%20key=<redacted>');
    expect(r.target('/p?bad=%E0%A4%A')).toBe('/p?bad=%E0%A4%A');
    expect(r.target('/no-query')).toBe('/no-query');
    expect(new Redactor([]).target('/p?token=1')).toBe('/p?token=1');
  });
});
