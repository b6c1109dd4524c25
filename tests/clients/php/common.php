<?php
// Shared by pdo.php and mysqli.php: the CRUD script's values and output (see ../README.md).
declare(strict_types=1);

const NAME_A = "it's \"quoted\" \\ ünïcödé ✓ 🎉";
const BODY_A = "line 1\nline 2: 100% _wild_; back\\slash";
const DOC_A = '{"a": [1, 2.5, null], "b": "ü"}';
const COLUMNS = 'id, name, body, price, created, active, doc, data';
const CREATE = 'CREATE TABLE crud (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL UNIQUE,'
    . ' body TEXT, price DECIMAL(10,2), created DATETIME, active BOOLEAN, doc JSON, data BLOB)';
const INSERT = 'INSERT INTO crud (name, body, price, created, active, doc, data) VALUES (?, ?, ?, ?, ?, ?, ?)';
const PREPARED_INSERT = 'INSERT INTO crud (name, price, active, data) VALUES (?, ?, ?, ?)';
const PREPARED_SELECT = 'SELECT name, price, active, data FROM crud WHERE name LIKE ? ORDER BY id';

mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);

function blob_a(): string
{
    return implode('', array_map('chr', range(0, 255)));
}

function prepared_params(): array
{
    return [['p1', '1.10', true, "\x00\x01"], ['p2', '2.20', false, "'\\\""], ['p3', null, true, null]];
}

/** One row, normalised: ints as ints, BOOLEAN as 0/1, BLOB as hex (columns named in $blob). */
function norm_row(array $row, array $ints, array $blob): array
{
    $out = [];
    foreach (array_values($row) as $i => $v) {
        if ($v === null) {
            $out[] = null;
        } elseif (in_array($i, $blob, true)) {
            $out[] = bin2hex((string) $v);
        } elseif (in_array($i, $ints, true)) {
            $out[] = (int) $v;
        } else {
            $out[] = $v;
        }
    }
    return $out;
}

function check(string $name, callable $fn): void
{
    try {
        $out = ['check' => $name, 'value' => $fn()];
    } catch (Throwable $e) {
        $code = $e instanceof mysqli_sql_exception ? $e->getCode() : ($e->errorInfo[1] ?? $e->getCode());
        $out = ['check' => $name, 'error' => $code . ' ' . $e->getMessage()];
    }
    echo json_encode($out, JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION), "\n";
}
