// The CRUD script (see ../README.md) through go-sql-driver/mysql (Debian's package, GOPATH mode):
// without interpolateParams every parameterized statement is a server-side prepared statement.
// Run: GOPATH=/usr/share/gocode GO111MODULE=off go run crud.go HOST PORT DATABASE
package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/go-sql-driver/mysql"
)

const (
	nameA   = "it's \"quoted\" \\ ünïcödé ✓ 🎉"
	bodyA   = "line 1\nline 2: 100% _wild_; back\\slash"
	docA    = `{"a": [1, 2.5, null], "b": "ü"}`
	columns = "id, name, body, price, created, active, doc, data"
	insert  = "INSERT INTO crud (name, body, price, created, active, doc, data) VALUES (?, ?, ?, ?, ?, ?, ?)"
)

type obj = map[string]any

func check(name string, fn func() (any, error)) {
	out := obj{"check": name}
	value, err := fn()
	if err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) {
			out["error"] = fmt.Sprintf("%d %s", me.Number, me.Message)
		} else {
			out["error"] = err.Error()
		}
	} else {
		out["value"] = value
	}
	line, _ := json.Marshal(out)
	fmt.Println(string(line))
}

func nullable(v interface{ Value() (driver.Value, error) }) any {
	value, _ := v.Value()
	return value
}

func hexOrNil(b []byte) any {
	if b == nil {
		return nil
	}
	return hex.EncodeToString(b)
}

func main() {
	dsn := fmt.Sprintf("root@tcp(%s:%s)/%s?parseTime=true&charset=utf8mb4&timeout=10s", os.Args[1], os.Args[2], os.Args[3])
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		panic(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx) // one session, as the other clients use
	if err != nil {
		panic(err)
	}
	var idA, idB int64
	count := func(q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) (n int64, err error) {
		err = q.QueryRowContext(ctx, "SELECT COUNT(*) FROM crud").Scan(&n)
		return
	}

	check("connect", func() (any, error) {
		var n int64
		return &n, conn.QueryRowContext(ctx, "SELECT 40 + 2").Scan(&n)
	})
	check("create", func() (any, error) {
		if _, err := conn.ExecContext(ctx, "DROP TABLE IF EXISTS crud"); err != nil {
			return nil, err
		}
		_, err := conn.ExecContext(ctx, "CREATE TABLE crud (id INT AUTO_INCREMENT PRIMARY KEY,"+
			" name VARCHAR(100) NOT NULL UNIQUE, body TEXT, price DECIMAL(10,2), created DATETIME,"+
			" active BOOLEAN, doc JSON, data BLOB)")
		return true, err
	})
	check("insert", func() (any, error) {
		blob := make([]byte, 256)
		for i := range blob {
			blob[i] = byte(i)
		}
		created := time.Date(2024, 2, 29, 23, 59, 58, 0, time.UTC)
		res, err := conn.ExecContext(ctx, insert, nameA, bodyA, "12345.67", created, true, docA, blob)
		if err != nil {
			return nil, err
		}
		affected, _ := res.RowsAffected()
		idA, _ = res.LastInsertId()
		return obj{"affected": affected, "id": idA}, nil
	})
	check("insert_null", func() (any, error) {
		res, err := conn.ExecContext(ctx, insert, "second", nil, nil, nil, nil, nil, nil)
		if err != nil {
			return nil, err
		}
		affected, _ := res.RowsAffected()
		idB, _ = res.LastInsertId()
		var last int64
		err = conn.QueryRowContext(ctx, "SELECT LAST_INSERT_ID()").Scan(&last)
		return obj{"affected": affected, "id": idB, "last_insert_id": last}, err
	})
	selectRow := func(id int64) (any, error) {
		var (
			rowID            int64
			name             string
			body, price, doc sql.NullString
			created          sql.NullTime
			active           sql.NullInt64
			data             []byte
		)
		err := conn.QueryRowContext(ctx, "SELECT "+columns+" FROM crud WHERE id = ?", id).
			Scan(&rowID, &name, &body, &price, &created, &active, &doc, &data)
		var when any
		if created.Valid {
			when = created.Time.Format("2006-01-02 15:04:05")
		}
		return []any{rowID, name, nullable(body), nullable(price), when, nullable(active), nullable(doc), hexOrNil(data)}, err
	}
	check("select", func() (any, error) { return selectRow(idA) })
	check("select_null", func() (any, error) { return selectRow(idB) })
	check("update", func() (any, error) {
		res, err := conn.ExecContext(ctx, "UPDATE crud SET body = ? WHERE id IN (?, ?)", "updated", idA, idB)
		if err != nil {
			return nil, err
		}
		affected, _ := res.RowsAffected()
		rows, err := conn.QueryContext(ctx, "SELECT body FROM crud ORDER BY id")
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		bodies := []any{}
		for rows.Next() {
			var b sql.NullString
			if err := rows.Scan(&b); err != nil {
				return nil, err
			}
			bodies = append(bodies, nullable(b))
		}
		return obj{"affected": affected, "bodies": bodies}, rows.Err()
	})
	check("delete", func() (any, error) {
		res, err := conn.ExecContext(ctx, "DELETE FROM crud WHERE id = ?", idA)
		if err != nil {
			return nil, err
		}
		affected, _ := res.RowsAffected()
		n, err := count(conn)
		return obj{"affected": affected, "count": n}, err
	})
	check("rollback", func() (any, error) {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO crud (name) VALUES (?)", "rolled back"); err != nil {
			tx.Rollback()
			return nil, err
		}
		inside, err := count(tx)
		if err != nil {
			tx.Rollback()
			return nil, err
		}
		if err := tx.Rollback(); err != nil {
			return nil, err
		}
		after, err := count(conn)
		return obj{"inside": inside, "after": after}, err
	})
	check("commit", func() (any, error) {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO crud (name) VALUES (?)", "committed"); err != nil {
			tx.Rollback()
			return nil, err
		}
		if err := tx.Commit(); err != nil {
			return nil, err
		}
		after, err := count(db) // another connection from the pool
		return obj{"after": after}, err
	})
	check("prepared", func() (any, error) {
		st, err := conn.PrepareContext(ctx, "INSERT INTO crud (name, price, active, data) VALUES (?, ?, ?, ?)")
		if err != nil {
			return nil, err
		}
		defer st.Close()
		params := [][]any{{"p1", "1.10", true, []byte{0, 1}}, {"p2", "2.20", false, []byte(`'\"`)}, {"p3", nil, true, nil}}
		affected := []int64{}
		for _, p := range params {
			res, err := st.ExecContext(ctx, p...)
			if err != nil {
				return nil, err
			}
			n, _ := res.RowsAffected()
			affected = append(affected, n)
		}
		sel, err := conn.PrepareContext(ctx, "SELECT name, price, active, data FROM crud WHERE name LIKE ? ORDER BY id")
		if err != nil {
			return nil, err
		}
		defer sel.Close()
		rows, err := sel.QueryContext(ctx, "p%")
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		out := []any{}
		for rows.Next() {
			var (
				name   string
				price  sql.NullString
				active int64
				data   []byte
			)
			if err := rows.Scan(&name, &price, &active, &data); err != nil {
				return nil, err
			}
			out = append(out, []any{name, nullable(price), active, hexOrNil(data)})
		}
		return obj{"affected": affected, "rows": out}, rows.Err()
	})
	check("error", func() (any, error) {
		var code any
		_, err := conn.ExecContext(ctx, "INSERT INTO crud (name) VALUES (?)", "p1")
		var me *mysql.MySQLError
		if errors.As(err, &me) {
			code = me.Number
		}
		var one int64
		err = conn.QueryRowContext(ctx, "SELECT 1").Scan(&one)
		return obj{"code": code, "after": one}, err
	})
}
