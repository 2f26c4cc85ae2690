const OMLMD_COMMAND = /\bomlmd (push|pull|get|crawl|metadata|inspect|copy|cp|tags|tag|repos|list|ls|login|logout|query|serve|attach|discover|detach|modelcar|model-card|storage-initializer|cache|sign|attest|verify)\b/;

/** Whether text is worded for the command line: it names a flag (`--ca-file`) or an omlmd command. */
export function namesCliFlag(text: string): boolean {
  return /(^|[\s(`'"])--?[a-z]/i.test(text) || OMLMD_COMMAND.test(text);
}
