// The CRUD script (see ../README.md) through MariaDB Connector/J. The main connection uses the
// driver's default client-side prepared statements; the prepared check opens a connection with
// useServerPrepStmts=true (COM_STMT_PREPARE/EXECUTE).
// Run: java -cp /usr/share/java/mariadb-java-client.jar Crud.java HOST PORT DATABASE
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

public class Crud {
    static final String NAME_A = "it's \"quoted\" \\ ünïcödé ✓ 🎉";
    static final String BODY_A = "line 1\nline 2: 100% _wild_; back\\slash";
    static final String DOC_A = "{\"a\": [1, 2.5, null], \"b\": \"ü\"}";
    static final String INSERT =
        "INSERT INTO crud (name, body, price, created, active, doc, data) VALUES (?, ?, ?, ?, ?, ?, ?)";
    static final DateTimeFormatter DATETIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss");
    static String url;
    static Connection conn;
    static long idA, idB;

    interface Check { Object run() throws Exception; }

    public static void main(String[] args) throws Exception {
        url = "jdbc:mariadb://" + args[0] + ":" + args[1] + "/" + args[2] + "?user=root&connectTimeout=10000";
        conn = DriverManager.getConnection(url);
        check("connect", () -> scalar(conn, "SELECT 40 + 2"));
        check("create", () -> {
            try (Statement st = conn.createStatement()) {
                st.execute("DROP TABLE IF EXISTS crud");
                st.execute("CREATE TABLE crud (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL UNIQUE,"
                    + " body TEXT, price DECIMAL(10,2), created DATETIME, active BOOLEAN, doc JSON, data BLOB)");
            }
            return true;
        });
        check("insert", () -> {
            byte[] blob = new byte[256];
            for (int i = 0; i < 256; i++) blob[i] = (byte) i;
            try (PreparedStatement st = conn.prepareStatement(INSERT, Statement.RETURN_GENERATED_KEYS)) {
                st.setString(1, NAME_A);
                st.setString(2, BODY_A);
                st.setBigDecimal(3, new BigDecimal("12345.67"));
                st.setTimestamp(4, Timestamp.valueOf("2024-02-29 23:59:58"));
                st.setBoolean(5, true);
                st.setString(6, DOC_A);
                st.setBytes(7, blob);
                int affected = st.executeUpdate();
                idA = generatedKey(st);
                return map("affected", affected, "id", idA);
            }
        });
        check("insert_null", () -> {
            try (PreparedStatement st = conn.prepareStatement(INSERT, Statement.RETURN_GENERATED_KEYS)) {
                st.setString(1, "second");
                int[] types = {Types.VARCHAR, Types.DECIMAL, Types.TIMESTAMP, Types.BOOLEAN, Types.VARCHAR, Types.BLOB};
                for (int i = 0; i < types.length; i++) st.setNull(i + 2, types[i]);
                int affected = st.executeUpdate();
                idB = generatedKey(st);
                return map("affected", affected, "id", idB, "last_insert_id", scalar(conn, "SELECT LAST_INSERT_ID()"));
            }
        });
        check("select", () -> selectRow(idA));
        check("select_null", () -> selectRow(idB));
        check("update", () -> {
            try (PreparedStatement st = conn.prepareStatement("UPDATE crud SET body = ? WHERE id IN (?, ?)")) {
                st.setString(1, "updated");
                st.setLong(2, idA);
                st.setLong(3, idB);
                int affected = st.executeUpdate();
                List<Object> bodies = new ArrayList<>();
                try (Statement q = conn.createStatement(); ResultSet rs = q.executeQuery("SELECT body FROM crud ORDER BY id")) {
                    while (rs.next()) bodies.add(rs.getString(1));
                }
                return map("affected", affected, "bodies", bodies);
            }
        });
        check("delete", () -> {
            try (PreparedStatement st = conn.prepareStatement("DELETE FROM crud WHERE id = ?")) {
                st.setLong(1, idA);
                return map("affected", st.executeUpdate(), "count", count(conn));
            }
        });
        check("rollback", () -> {
            conn.setAutoCommit(false);
            insertName(conn, "rolled back");
            long inside = count(conn);
            conn.rollback();
            conn.setAutoCommit(true);
            return map("inside", inside, "after", count(conn));
        });
        check("commit", () -> {
            conn.setAutoCommit(false);
            insertName(conn, "committed");
            conn.commit();
            conn.setAutoCommit(true);
            try (Connection other = DriverManager.getConnection(url)) {
                return map("after", count(other));
            }
        });
        check("prepared", () -> {
            try (Connection server = DriverManager.getConnection(url + "&useServerPrepStmts=true");
                 PreparedStatement st = server.prepareStatement(
                     "INSERT INTO crud (name, price, active, data) VALUES (?, ?, ?, ?)")) {
                Object[][] params = {{"p1", "1.10", true, new byte[] {0, 1}}, {"p2", "2.20", false, "'\\\"".getBytes()},
                    {"p3", null, true, null}};
                List<Object> affected = new ArrayList<>();
                for (Object[] p : params) {
                    st.setString(1, (String) p[0]);
                    if (p[1] == null) st.setNull(2, Types.DECIMAL); else st.setBigDecimal(2, new BigDecimal((String) p[1]));
                    st.setBoolean(3, (Boolean) p[2]);
                    if (p[3] == null) st.setNull(4, Types.BLOB); else st.setBytes(4, (byte[]) p[3]);
                    affected.add(st.executeUpdate());
                }
                List<Object> rows = new ArrayList<>();
                try (PreparedStatement sel = server.prepareStatement(
                        "SELECT name, price, active, data FROM crud WHERE name LIKE ? ORDER BY id")) {
                    sel.setString(1, "p%");
                    try (ResultSet rs = sel.executeQuery()) {
                        while (rs.next()) {
                            rows.add(Arrays.asList(rs.getString(1), decimal(rs.getBigDecimal(2)), rs.getInt(3), hex(rs.getBytes(4))));
                        }
                    }
                }
                return map("affected", affected, "rows", rows);
            }
        });
        check("error", () -> {
            Object code = null;
            try {
                insertName(conn, "p1");
            } catch (SQLException e) {
                code = e.getErrorCode();
            }
            return map("code", code, "after", scalar(conn, "SELECT 1"));
        });
        conn.close();
    }

    static void check(String name, Check fn) {
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("check", name);
        try {
            out.put("value", fn.run());
        } catch (Exception e) {
            int code = e instanceof SQLException ? ((SQLException) e).getErrorCode() : 0;
            out.put("error", code + " " + e);
        }
        System.out.println(json(out));
    }

    static List<Object> selectRow(long id) throws SQLException {
        try (PreparedStatement st = conn.prepareStatement(
                "SELECT id, name, body, price, created, active, doc, data FROM crud WHERE id = ?")) {
            st.setLong(1, id);
            try (ResultSet rs = st.executeQuery()) {
                rs.next();
                Timestamp created = rs.getTimestamp(5);
                int active = rs.getInt(6);
                boolean activeNull = rs.wasNull();
                List<Object> row = new ArrayList<>();
                row.add(rs.getLong(1));
                row.add(rs.getString(2));
                row.add(rs.getString(3));
                row.add(decimal(rs.getBigDecimal(4)));
                row.add(created == null ? null : created.toLocalDateTime().format(DATETIME));
                row.add(activeNull ? null : active);
                row.add(rs.getString(7));
                row.add(hex(rs.getBytes(8)));
                return row;
            }
        }
    }

    static long generatedKey(Statement st) throws SQLException {
        try (ResultSet keys = st.getGeneratedKeys()) {
            keys.next();
            return keys.getLong(1);
        }
    }

    static void insertName(Connection c, String name) throws SQLException {
        try (PreparedStatement st = c.prepareStatement("INSERT INTO crud (name) VALUES (?)")) {
            st.setString(1, name);
            st.executeUpdate();
        }
    }

    static long scalar(Connection c, String sql) throws SQLException {
        try (Statement st = c.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    static long count(Connection c) throws SQLException {
        return scalar(c, "SELECT COUNT(*) FROM crud");
    }

    static String decimal(BigDecimal d) {
        return d == null ? null : d.toPlainString();
    }

    static String hex(byte[] b) {
        return b == null ? null : HexFormat.of().formatHex(b);
    }

    static Map<String, Object> map(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        return m;
    }

    static String json(Object v) {
        if (v == null) return "null";
        if (v instanceof Number || v instanceof Boolean) return v.toString();
        if (v instanceof Map) {
            StringBuilder sb = new StringBuilder("{");
            for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                if (sb.length() > 1) sb.append(',');
                sb.append(json(e.getKey().toString())).append(':').append(json(e.getValue()));
            }
            return sb.append('}').toString();
        }
        if (v instanceof List) {
            StringBuilder sb = new StringBuilder("[");
            for (Object o : (List<?>) v) {
                if (sb.length() > 1) sb.append(',');
                sb.append(json(o));
            }
            return sb.append(']').toString();
        }
        StringBuilder sb = new StringBuilder("\"");
        for (char c : v.toString().toCharArray()) {
            if (c == '"' || c == '\\') sb.append('\\').append(c);
            else if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
            else sb.append(c);
        }
        return sb.append('"').toString();
    }
}
