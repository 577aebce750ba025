import { constants } from 'node:fs';
import { access } from 'node:fs/promises';
import { delimiter, isAbsolute, join } from 'node:path';
import { EnvironmentError } from '../../common/index.js';

/** Absolute path of an executable on PATH (or the given path if it is executable), else null. */
export async function findExecutable(name: string, path = process.env.PATH ?? ''): Promise<string | null> {
  const candidates =
    isAbsolute(name) || name.includes('/')
      ? [name]
      : path
          .split(delimiter)
          .filter(Boolean)
          .map((d) => join(d, name));
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      return c;
    } catch {
      // not here
    }
  }
  return null;
}

export async function requireExecutable(name: string, install: string): Promise<string> {
  const found = await findExecutable(name);
  if (!found) throw new EnvironmentError(`${name} not found on PATH: ${install}`);
  return found;
}
