// Reads a receiptline document on stdin, writes the ESC/POS bytes receiptline makes for an
// Epson TM printer to stdout. Options come as JSON in argv[2] (cpl, encoding, ...).
const receiptline = require('receiptline');
const options = Object.assign({ command: 'escpos', cpl: 42, encoding: 'multilingual' },
  JSON.parse(process.argv[2] || '{}'));
let doc = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => { doc += chunk; });
process.stdin.on('end', () => {
  const command = receiptline.transform(doc, options);
  process.stdout.write(Buffer.from(command, 'binary'));
});
