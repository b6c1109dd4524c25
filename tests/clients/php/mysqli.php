<?php
// The CRUD script (see ../README.md) through PHP mysqli: every parameterized statement is a
// server-side prepared statement; the prepared check sends its BLOBs with send_long_data.
declare(strict_types=1);
require __DIR__ . '/common.php';

[, $host, $port, $database] = $argv;
$open = function () use ($host, $port, $database): mysqli {
    $c = mysqli_init();
    $c->options(MYSQLI_OPT_CONNECT_TIMEOUT, 10);
    $c->real_connect($host, 'root', '', $database, (int) $port);
    $c->set_charset('utf8mb4');
    return $c;
};
$db = $open();
$idA = $idB = 0;
$count = fn(mysqli $c): int => (int) $c->query('SELECT COUNT(*) FROM crud')->fetch_row()[0];
$run = function (string $sql, string $types, array $params) use ($db): mysqli_stmt {
    $st = $db->prepare($sql);
    $st->bind_param($types, ...$params);
    $st->execute();
    return $st;
};

check('connect', fn() => (int) $db->query('SELECT 40 + 2')->fetch_row()[0]);
check('create', function () use ($db) {
    $db->query('DROP TABLE IF EXISTS crud');
    $db->query(CREATE);
    return true;
});
check('insert', function () use ($run, &$idA) {
    $st = $run(INSERT, 'ssssiss', [NAME_A, BODY_A, '12345.67', '2024-02-29 23:59:58', 1, DOC_A, blob_a()]);
    $idA = (int) $st->insert_id;
    return ['affected' => $st->affected_rows, 'id' => $idA];
});
check('insert_null', function () use ($db, $run, &$idB) {
    $st = $run(INSERT, 'ssssiss', ['second', null, null, null, null, null, null]);
    $idB = (int) $st->insert_id;
    $last = (int) $db->query('SELECT LAST_INSERT_ID()')->fetch_row()[0];
    return ['affected' => $st->affected_rows, 'id' => $idB, 'last_insert_id' => $last];
});
foreach (['select' => &$idA, 'select_null' => &$idB] as $name => &$id) {
    check($name, function () use ($run, &$id) {
        $st = $run('SELECT ' . COLUMNS . ' FROM crud WHERE id = ?', 'i', [$id]);
        return norm_row($st->get_result()->fetch_row(), [0, 5], [7]);
    });
}
unset($id);
check('update', function () use ($db, $run, &$idA, &$idB) {
    $st = $run('UPDATE crud SET body = ? WHERE id IN (?, ?)', 'sii', ['updated', $idA, $idB]);
    $bodies = array_column($db->query('SELECT body FROM crud ORDER BY id')->fetch_all(), 0);
    return ['affected' => $st->affected_rows, 'bodies' => $bodies];
});
check('delete', function () use ($db, $run, &$idA, $count) {
    $st = $run('DELETE FROM crud WHERE id = ?', 'i', [$idA]);
    return ['affected' => $st->affected_rows, 'count' => $count($db)];
});
check('rollback', function () use ($db, $run, $count) {
    $db->begin_transaction();
    $run('INSERT INTO crud (name) VALUES (?)', 's', ['rolled back']);
    $inside = $count($db);
    $db->rollback();
    return ['inside' => $inside, 'after' => $count($db)];
});
check('commit', function () use ($db, $run, $open, $count) {
    $db->begin_transaction();
    $run('INSERT INTO crud (name) VALUES (?)', 's', ['committed']);
    $db->commit();
    return ['after' => $count($open())];
});
check('prepared', function () use ($db) {
    $affected = [];
    $st = $db->prepare(PREPARED_INSERT);
    $name = $price = $data = null;
    $active = 0;
    $st->bind_param('ssib', $name, $price, $active, $data);
    foreach (prepared_params() as [$name, $price, $active, $blob]) {
        $active = (int) $active;
        $data = null;
        if ($blob !== null) {
            $st->send_long_data(3, $blob);
        }
        $st->execute();
        $affected[] = $st->affected_rows;
    }
    $sel = $db->prepare(PREPARED_SELECT);
    $like = 'p%';
    $sel->bind_param('s', $like);
    $sel->execute();
    $rows = array_map(fn($r) => norm_row($r, [2], [3]), $sel->get_result()->fetch_all());
    return ['affected' => $affected, 'rows' => $rows];
});
check('error', function () use ($db, $run) {
    $code = null;
    try {
        $run('INSERT INTO crud (name) VALUES (?)', 's', ['p1']);
    } catch (mysqli_sql_exception $e) {
        $code = $e->getCode();
    }
    return ['code' => $code, 'after' => (int) $db->query('SELECT 1')->fetch_row()[0]];
});
