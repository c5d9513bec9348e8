/** `tcptrace report FILE --html -o OUT`: one self-contained page of everything in a recording. */
import { renderHtmlReport } from '../../export/html';
import { htmlReport } from '../../reports/html';
import { FileSource, RecordingFilter } from '../../source/file';
import { writeOutputFile } from '../output';

export async function runHtmlReport(file: string, output: string, filter: RecordingFilter = {}): Promise<void> {
  const html = renderHtmlReport(await htmlReport(await FileSource.open(file, filter)));
  await writeOutputFile(output, (write) => write(html));
}
