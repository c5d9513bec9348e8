/**
 * Colour for a terminal: severities and states, as data. The CLI picks the
 * palette: ANSI on a terminal, none when stdout is not one or NO_COLOR is set
 * (no-color.org). Colour is put on whole cells or lines after they are laid
 * out, so widths are counted without it.
 */
import { Severity } from '../model/findings';

export type Hue = 'red' | 'yellow' | 'cyan';

export type Paint = (hue: Hue | undefined, text: string) => string;

const CODES: Record<Hue, number> = { red: 31, yellow: 33, cyan: 36 };

export const PLAIN: Paint = (_hue, text) => text;
export const ANSI: Paint = (hue, text) => (hue && text ? `\x1b[${CODES[hue]}m${text}\x1b[0m` : text);

export const SEVERITY_HUE: Record<Severity, Hue> = { problem: 'red', warning: 'yellow', note: 'cyan' };

/** The states worth an eye: a program not closing (CLOSE_WAIT), a pile-up of closes (TIME_WAIT). */
export const STATE_HUE: Record<string, Hue> = { CLOSE_WAIT: 'red', TIME_WAIT: 'yellow' };
