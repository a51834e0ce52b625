// pgjdbc's DatabaseMetaData as DBeaver, Metabase and Tableau call it, against the capture
// server of capture.sh: java -cp postgresql.jar JdbcCapture.java PORT USER DB
import java.sql.*;

public class JdbcCapture {
    public static void main(String[] a) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + a[0] + "/" + a[2] + "?ApplicationName=pgjdbc";
        try (Connection c = DriverManager.getConnection(url, a[1], "")) {
            DatabaseMetaData md = c.getMetaData();
            drain(md.getSchemas());
            drain(md.getTables(null, "silver", "%", new String[] {"TABLE"}));
            drain(md.getTables(null, "silver", "%", new String[] {"VIEW"}));
            drain(md.getColumns(null, "silver", "users", "%"));
            drain(md.getColumns(null, "silver", "titles", "%"));
            drain(md.getPrimaryKeys(null, "silver", "users"));
            drain(md.getImportedKeys(null, "silver", "users"));
            drain(md.getIndexInfo(null, "silver", "users", false, true));
            try (PreparedStatement p = c.prepareStatement("SELECT email FROM silver.users WHERE user_id = ?")) {
                p.setLong(1, 1);
                drain(p.executeQuery());
            }
        }
    }

    static void drain(ResultSet rs) throws SQLException {
        try (rs) { while (rs.next()) { } }
    }
}
