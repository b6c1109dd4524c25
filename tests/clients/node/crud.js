// The CRUD script (see ../README.md) through Node mysql2: query() binds client-side, execute() uses
// server-side prepared statements.
'use strict';
const mysql = require('mysql2/promise');

const [host, port, database] = process.argv.slice(2);
const NAME_A = 'it\'s "quoted" \\ ünïcödé ✓ 🎉';
const BODY_A = 'line 1\nline 2: 100% _wild_; back\\slash';
const DOC_A = '{"a": [1, 2.5, null], "b": "ü"}';
const BLOB_A = Buffer.from([...Array(256).keys()]);
const COLUMNS = 'id, name, body, price, created, active, doc, data';

function pad(n) { return String(n).padStart(2, '0'); }
function norm(v) {
  if (v === null || v === undefined) return null;
  if (Buffer.isBuffer(v)) return v.toString('hex');
  if (v instanceof Date) {
    return `${v.getUTCFullYear()}-${pad(v.getUTCMonth() + 1)}-${pad(v.getUTCDate())} ` +
      `${pad(v.getUTCHours())}:${pad(v.getUTCMinutes())}:${pad(v.getUTCSeconds())}`;
  }
  return v;
}
function row(r) { return r.map(norm); }

async function check(name, fn) {
  let out;
  try { out = { check: name, value: await fn() }; }
  catch (e) { out = { check: name, error: `${e.errno || ''} ${e.message}` }; }
  console.log(JSON.stringify(out));
}

async function main() {
  const opts = { host, port: Number(port), user: 'root', password: '', database, timezone: 'Z',
    charset: 'utf8mb4', connectTimeout: 10000 };
  const conn = await mysql.createConnection(opts);
  let idA, idB;
  const count = async (c = conn) => (await c.query('SELECT COUNT(*) AS n FROM crud'))[0][0].n;

  await check('connect', async () => (await conn.query({ sql: 'SELECT 40 + 2', rowsAsArray: true }))[0][0][0]);
  await check('create', async () => {
    await conn.query('DROP TABLE IF EXISTS crud');
    await conn.query('CREATE TABLE crud (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL UNIQUE,' +
      ' body TEXT, price DECIMAL(10,2), created DATETIME, active BOOLEAN, doc JSON, data BLOB)');
    return true;
  });
  await check('insert', async () => {
    const [r] = await conn.query(
      'INSERT INTO crud (name, body, price, created, active, doc, data) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [NAME_A, BODY_A, '12345.67', '2024-02-29 23:59:58', true, DOC_A, BLOB_A]);
    idA = r.insertId;
    return { affected: r.affectedRows, id: r.insertId };
  });
  await check('insert_null', async () => {
    const [r] = await conn.query(
      'INSERT INTO crud (name, body, price, created, active, doc, data) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ['second', null, null, null, null, null, null]);
    idB = r.insertId;
    const [[last]] = await conn.query({ sql: 'SELECT LAST_INSERT_ID()', rowsAsArray: true });
    return { affected: r.affectedRows, id: r.insertId, last_insert_id: Number(last[0]) };
  });
  for (const [name, getId] of [['select', () => idA], ['select_null', () => idB]]) {
    await check(name, async () => {
      const [rows] = await conn.query({ sql: `SELECT ${COLUMNS} FROM crud WHERE id = ?`, rowsAsArray: true },
        [getId()]);
      return row(rows[0]);
    });
  }
  await check('update', async () => {
    const [r] = await conn.query('UPDATE crud SET body = ? WHERE id IN (?, ?)', ['updated', idA, idB]);
    const [rows] = await conn.query({ sql: 'SELECT body FROM crud ORDER BY id', rowsAsArray: true });
    return { affected: r.affectedRows, bodies: rows.map((x) => x[0]) };
  });
  await check('delete', async () => {
    const [r] = await conn.query('DELETE FROM crud WHERE id = ?', [idA]);
    return { affected: r.affectedRows, count: await count() };
  });
  await check('rollback', async () => {
    await conn.beginTransaction();
    await conn.query('INSERT INTO crud (name) VALUES (?)', ['rolled back']);
    const inside = await count();
    await conn.rollback();
    return { inside, after: await count() };
  });
  await check('commit', async () => {
    await conn.beginTransaction();
    await conn.query('INSERT INTO crud (name) VALUES (?)', ['committed']);
    await conn.commit();
    const other = await mysql.createConnection(opts);
    try { return { after: await count(other) }; } finally { await other.end(); }
  });
  await check('prepared', async () => {
    const affected = [];
    const params = [['p1', '1.10', true, Buffer.from([0, 1])], ['p2', '2.20', false, Buffer.from('\'\\"')],
      ['p3', null, true, null]];
    for (const p of params) {
      const [r] = await conn.execute('INSERT INTO crud (name, price, active, data) VALUES (?, ?, ?, ?)', p);
      affected.push(r.affectedRows);
    }
    const [rows] = await conn.execute(
      { sql: 'SELECT name, price, active, data FROM crud WHERE name LIKE ? ORDER BY id', rowsAsArray: true }, ['p%']);
    return { affected, rows: rows.map(row) };
  });
  await check('error', async () => {
    let code = null;
    try { await conn.query('INSERT INTO crud (name) VALUES (?)', ['p1']); } catch (e) { code = e.errno; }
    const [[one]] = await conn.query({ sql: 'SELECT 1', rowsAsArray: true });
    return { code, after: one[0] };
  });
  await conn.end();
}

main().catch((e) => { console.error(e); process.exit(1); });
