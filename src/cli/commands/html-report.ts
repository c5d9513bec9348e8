/** `tcptrace report FILE --html -o OUT`: one self-contained page of everything in a recording. */
import * as fs from 'node:fs';
import { TcptraceError } from '../../errors';
import { renderHtmlReport } from '../../export/html';
import { htmlReport } from '../../reports/html';
import { FileSource } from '../../source/file';

export async function runHtmlReport(file: string, output: string): Promise<void> {
  const html = renderHtmlReport(await htmlReport(await FileSource.open(file)));
  try {
    fs.writeFileSync(output, html);
  } catch (err) {
    throw new TcptraceError(`cannot write ${output}: ${(err as Error).message}`, 'EWRITE');
  }
}
