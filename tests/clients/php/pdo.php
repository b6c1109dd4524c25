<?php
// The CRUD script (see ../README.md) through PHP PDO (pdo_mysql over mysqlnd). The main connection
// uses PDO's default emulated prepares (client-side); the prepared check turns them off.
declare(strict_types=1);
require __DIR__ . '/common.php';

[, $host, $port, $database] = $argv;
$dsn = "mysql:host=$host;port=$port;dbname=$database;charset=utf8mb4";
$options = [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION, PDO::ATTR_TIMEOUT => 10];
$db = new PDO($dsn, 'root', '', $options);
$idA = $idB = 0;
$count = fn(PDO $c): int => (int) $c->query('SELECT COUNT(*) FROM crud')->fetchColumn();

check('connect', fn() => (int) $db->query('SELECT 40 + 2')->fetchColumn());
check('create', function () use ($db) {
    $db->exec('DROP TABLE IF EXISTS crud');
    $db->exec(CREATE);
    return true;
});
check('insert', function () use ($db, &$idA) {
    $st = $db->prepare(INSERT);
    $st->bindValue(1, NAME_A);
    $st->bindValue(2, BODY_A);
    $st->bindValue(3, '12345.67');
    $st->bindValue(4, '2024-02-29 23:59:58');
    $st->bindValue(5, true, PDO::PARAM_BOOL);
    $st->bindValue(6, DOC_A);
    $st->bindValue(7, blob_a(), PDO::PARAM_LOB);
    $st->execute();
    $idA = (int) $db->lastInsertId();
    return ['affected' => $st->rowCount(), 'id' => $idA];
});
check('insert_null', function () use ($db, &$idB) {
    $st = $db->prepare(INSERT);
    $st->execute(['second', null, null, null, null, null, null]);
    $idB = (int) $db->lastInsertId();
    $last = (int) $db->query('SELECT LAST_INSERT_ID()')->fetchColumn();
    return ['affected' => $st->rowCount(), 'id' => $idB, 'last_insert_id' => $last];
});
foreach (['select' => &$idA, 'select_null' => &$idB] as $name => &$id) {
    check($name, function () use ($db, &$id) {
        $st = $db->prepare('SELECT ' . COLUMNS . ' FROM crud WHERE id = ?');
        $st->execute([$id]);
        return norm_row($st->fetch(PDO::FETCH_NUM), [0, 5], [7]);
    });
}
unset($id);
check('update', function () use ($db, &$idA, &$idB) {
    $st = $db->prepare('UPDATE crud SET body = ? WHERE id IN (?, ?)');
    $st->execute(['updated', $idA, $idB]);
    $bodies = $db->query('SELECT body FROM crud ORDER BY id')->fetchAll(PDO::FETCH_COLUMN);
    return ['affected' => $st->rowCount(), 'bodies' => $bodies];
});
check('delete', function () use ($db, &$idA, $count) {
    $st = $db->prepare('DELETE FROM crud WHERE id = ?');
    $st->execute([$idA]);
    return ['affected' => $st->rowCount(), 'count' => $count($db)];
});
check('rollback', function () use ($db, $count) {
    $db->beginTransaction();
    $db->prepare('INSERT INTO crud (name) VALUES (?)')->execute(['rolled back']);
    $inside = $count($db);
    $db->rollBack();
    return ['inside' => $inside, 'after' => $count($db)];
});
check('commit', function () use ($db, $dsn, $options, $count) {
    $db->beginTransaction();
    $db->prepare('INSERT INTO crud (name) VALUES (?)')->execute(['committed']);
    $db->commit();
    return ['after' => $count(new PDO($dsn, 'root', '', $options))];
});
check('prepared', function () use ($db) {
    $db->setAttribute(PDO::ATTR_EMULATE_PREPARES, false);
    $affected = [];
    $st = $db->prepare(PREPARED_INSERT);
    foreach (prepared_params() as [$name, $price, $active, $data]) {
        $st->bindValue(1, $name);
        $st->bindValue(2, $price, $price === null ? PDO::PARAM_NULL : PDO::PARAM_STR);
        $st->bindValue(3, $active, PDO::PARAM_BOOL);
        $st->bindValue(4, $data, $data === null ? PDO::PARAM_NULL : PDO::PARAM_LOB);
        $st->execute();
        $affected[] = $st->rowCount();
    }
    $sel = $db->prepare(PREPARED_SELECT);
    $sel->execute(['p%']);
    $rows = array_map(fn($r) => norm_row($r, [2], [3]), $sel->fetchAll(PDO::FETCH_NUM));
    $db->setAttribute(PDO::ATTR_EMULATE_PREPARES, true);
    return ['affected' => $affected, 'rows' => $rows];
});
check('error', function () use ($db) {
    $code = null;
    try {
        $db->prepare('INSERT INTO crud (name) VALUES (?)')->execute(['p1']);
    } catch (PDOException $e) {
        $code = $e->errorInfo[1];
    }
    return ['code' => $code, 'after' => (int) $db->query('SELECT 1')->fetchColumn()];
});
