# The CRUD script (see ../README.md) through Ruby mysql2: query() with client-side escaping,
# prepare()/execute() for server-side prepared statements.
# Run: ruby crud.rb HOST PORT DATABASE
require 'bigdecimal'
require 'json'
require 'mysql2'

host, port, database = ARGV
NAME_A = "it's \"quoted\" \\ ünïcödé ✓ 🎉"
BODY_A = "line 1\nline 2: 100% _wild_; back\\slash"
DOC_A = '{"a": [1, 2.5, null], "b": "ü"}'
BLOB_A = (0..255).to_a.pack('C*')
INSERT = 'INSERT INTO crud (name, body, price, created, active, doc, data) VALUES (?, ?, ?, ?, ?, ?, ?)'

def norm(value)
  case value
  when nil then nil
  when BigDecimal then value.to_s('F')
  when Time then value.strftime('%Y-%m-%d %H:%M:%S')
  when String then value.encoding == Encoding::BINARY ? value.unpack1('H*') : value
  else value
  end
end

def check(name)
  out = { check: name, value: yield }
rescue StandardError => e
  out = { check: name, error: "#{e.respond_to?(:error_number) ? e.error_number : ''} #{e.message}" }
ensure
  puts JSON.generate(out)
end

open_conn = lambda do
  Mysql2::Client.new(host: host, port: port.to_i, username: 'root', password: '', database: database,
                     encoding: 'utf8mb4', connect_timeout: 10, database_timezone: :utc, application_timezone: :utc)
end
db = open_conn.call
count = ->(c) { c.query('SELECT COUNT(*) AS n FROM crud').first['n'] }
run = lambda do |sql, *params|
  st = db.prepare(sql)
  result = st.execute(*params)
  [st, result]
end
id_a = id_b = nil

check('connect') { db.query('SELECT 40 + 2', as: :array).first[0] }
check('create') do
  db.query('DROP TABLE IF EXISTS crud')
  db.query('CREATE TABLE crud (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL UNIQUE,' \
           ' body TEXT, price DECIMAL(10,2), created DATETIME, active BOOLEAN, doc JSON, data BLOB)')
  true
end
check('insert') do
  # Client-side: each value escaped into the statement text by the driver.
  values = [NAME_A, BODY_A, '12345.67', '2024-02-29 23:59:58', 1, DOC_A].map { |v| "'#{db.escape(v.to_s)}'" }
  values << "X'#{BLOB_A.unpack1('H*')}'"
  db.query("INSERT INTO crud (name, body, price, created, active, doc, data) VALUES (#{values.join(', ')})")
  id_a = db.last_id
  { affected: db.affected_rows, id: id_a }
end
check('insert_null') do
  st, = run.call(INSERT, 'second', nil, nil, nil, nil, nil, nil)
  id_b = st.last_id
  last = db.query('SELECT LAST_INSERT_ID()', as: :array).first[0]
  { affected: st.affected_rows, id: id_b, last_insert_id: last }
end
[['select', -> { id_a }], ['select_null', -> { id_b }]].each do |name, id|
  check(name) do
    _, result = run.call('SELECT id, name, body, price, created, active, doc, data FROM crud WHERE id = ?', id.call)
    row = result.first.values
    row[6] = row[6]&.force_encoding('UTF-8') # MySQL sends a JSON column with the binary charset
    row.map { |v| norm(v) }
  end
end
check('update') do
  st, = run.call('UPDATE crud SET body = ? WHERE id IN (?, ?)', 'updated', id_a, id_b)
  { affected: st.affected_rows, bodies: db.query('SELECT body FROM crud ORDER BY id', as: :array).map(&:first) }
end
check('delete') do
  st, = run.call('DELETE FROM crud WHERE id = ?', id_a)
  { affected: st.affected_rows, count: count.call(db) }
end
check('rollback') do
  db.query('BEGIN')
  run.call('INSERT INTO crud (name) VALUES (?)', 'rolled back')
  inside = count.call(db)
  db.query('ROLLBACK')
  { inside: inside, after: count.call(db) }
end
check('commit') do
  db.query('BEGIN')
  run.call('INSERT INTO crud (name) VALUES (?)', 'committed')
  db.query('COMMIT')
  other = open_conn.call
  begin
    { after: count.call(other) }
  ensure
    other.close
  end
end
check('prepared') do
  st = db.prepare('INSERT INTO crud (name, price, active, data) VALUES (?, ?, ?, ?)')
  params = [['p1', BigDecimal('1.10'), true, "\x00\x01".b], ['p2', BigDecimal('2.20'), false, "'\\\"".b],
            ['p3', nil, true, nil]]
  affected = params.map do |p|
    st.execute(*p)
    st.affected_rows
  end
  sel = db.prepare('SELECT name, price, active, data FROM crud WHERE name LIKE ? ORDER BY id')
  rows = sel.execute('p%', as: :array).map { |r| r.map { |v| norm(v) } }
  { affected: affected, rows: rows }
end
check('error') do
  code = nil
  begin
    run.call('INSERT INTO crud (name) VALUES (?)', 'p1')
  rescue Mysql2::Error => e
    code = e.error_number
  end
  { code: code, after: db.query('SELECT 1', as: :array).first[0] }
end
db.close
