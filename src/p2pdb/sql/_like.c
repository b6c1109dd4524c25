/* MySQL's LIKE in C for ASCII text (p2pdb/sql/like.py has the rules and the Python function).
 *
 * SQLite calls like() once per row a WHERE clause tests: through Python about a microsecond each,
 * 9.3 ms for a '%...%' over 10,000 rows against 0.7 ms for SQLite's own LIKE. This function
 * answers ``value LIKE pattern`` (the two-argument form: the default escape ``\``) when both are
 * text of ASCII characters only, the pattern at most MAX_PATTERN bytes and the value not so long
 * that the match could take long; anything else (NULL, numbers, bytes, non-ASCII text, where case
 * folding needs Unicode) calls like.py's ``mysql_like``, so the answers are the same.
 *
 * The rules for ASCII: ``\`` followed by a character stands for that character (at the pattern's
 * end, for itself); ``_`` is one character, ``%`` any run of them; letters match case-insensitively;
 * trailing spaces count. The match is the usual one with a single backtrack point (the last ``%``),
 * O(len(value) x len(pattern)) at worst, bounded by MAX_WORK.
 *
 * Like _collate.c, the module is a Python extension and a SQLite extension:
 * p2pdb.store.collation.load_extension_module loads it once to keep SQLite's API table.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sqlite3ext.h>
/* SQLITE_EXTENSION_INIT1, but static: SQLite loads an extension with RTLD_GLOBAL, and two modules
 * each exporting a global sqlite3_api would share one through symbol interposition. */
static const sqlite3_api_routines *sqlite3_api = 0;

#define MAX_PATTERN 256
#define MAX_WORK (1 << 22)

enum { LITERAL = 0, ONE = 1, ANY = 2 };

static PyObject *fallback;

static inline unsigned char lower(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static int is_ascii(const unsigned char *s, int n) {
    for (int i = 0; i < n; i++) {
        if (s[i] & 0x80) return 0;
    }
    return 1;
}

/* Tokens of ``pattern``: kinds and (for literals) lowered characters; returns their count. */
static int tokenize(const unsigned char *p, int np, unsigned char *kinds, unsigned char *chars) {
    int n = 0;
    for (int i = 0; i < np; i++) {
        unsigned char c = p[i];
        if (c == '\\' && i + 1 < np) {
            kinds[n] = LITERAL;
            chars[n++] = lower(p[++i]);
        } else if (c == '%') {
            if (n == 0 || kinds[n - 1] != ANY) kinds[n++] = ANY;  /* '%%' is '%' */
        } else if (c == '_') {
            kinds[n++] = ONE;
        } else {
            kinds[n] = LITERAL;
            chars[n++] = lower(c);
        }
    }
    return n;
}

/* 1 if value matches the tokens. */
static int match(const unsigned char *kinds, const unsigned char *chars, int nt, const unsigned char *s, int ns) {
    int t = 0, i = 0, star = -1, mark = 0;
    while (i < ns) {
        if (t < nt && kinds[t] != ANY && (kinds[t] == ONE || chars[t] == lower(s[i]))) {
            t++;
            i++;
        } else if (t < nt && kinds[t] == ANY) {
            star = t++;
            mark = i;
        } else if (star >= 0) {
            t = star + 1;
            i = ++mark;
        } else {
            return 0;
        }
    }
    while (t < nt && kinds[t] == ANY) t++;
    return t == nt;
}

static PyObject *to_python(sqlite3_value *v) {
    switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER: return PyLong_FromLongLong(sqlite3_value_int64(v));
    case SQLITE_FLOAT: return PyFloat_FromDouble(sqlite3_value_double(v));
    case SQLITE_TEXT:
        return PyUnicode_DecodeUTF8((const char *)sqlite3_value_text(v), sqlite3_value_bytes(v), "surrogateescape");
    case SQLITE_BLOB: {
        const void *data = sqlite3_value_blob(v);
        return PyBytes_FromStringAndSize(data ? data : "", sqlite3_value_bytes(v));
    }
    default: Py_RETURN_NONE;
    }
}

static void call_fallback(sqlite3_context *ctx, sqlite3_value *pattern, sqlite3_value *value) {
    PyGILState_STATE state = PyGILState_Ensure();
    PyObject *p = to_python(pattern);
    PyObject *v = p ? to_python(value) : NULL;
    PyObject *res = v ? PyObject_CallFunctionObjArgs(fallback, p, v, NULL) : NULL;
    if (res == NULL) {
        PyObject *type, *exc, *tb;
        PyErr_Fetch(&type, &exc, &tb);
        PyObject *text = exc ? PyObject_Str(exc) : NULL;
        const char *message = text ? PyUnicode_AsUTF8(text) : NULL;
        sqlite3_result_error(ctx, message ? message : "LIKE failed", -1);
        PyErr_Clear();
        Py_XDECREF(text);
        Py_XDECREF(type);
        Py_XDECREF(exc);
        Py_XDECREF(tb);
    } else if (res == Py_None) {
        sqlite3_result_null(ctx);
    } else {
        long out = PyLong_AsLong(res);
        if (out == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            sqlite3_result_error(ctx, "LIKE gave no integer", -1);
        } else {
            sqlite3_result_int(ctx, (int)out);
        }
    }
    Py_XDECREF(res);
    Py_XDECREF(p);
    Py_XDECREF(v);
    PyGILState_Release(state);
}

/* like(pattern, value): SQLite passes the pattern first. */
static void like2(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
    (void)argc;
    if (sqlite3_value_type(argv[0]) == SQLITE_TEXT && sqlite3_value_type(argv[1]) == SQLITE_TEXT) {
        const unsigned char *p = sqlite3_value_text(argv[0]);
        int np = sqlite3_value_bytes(argv[0]);
        const unsigned char *s = sqlite3_value_text(argv[1]);
        int ns = sqlite3_value_bytes(argv[1]);
        if (p != NULL && s != NULL && np <= MAX_PATTERN && (long long)ns * (np + 1) <= MAX_WORK
            && is_ascii(p, np) && is_ascii(s, ns)) {
            unsigned char kinds[MAX_PATTERN], chars[MAX_PATTERN];
            int nt = tokenize(p, np, kinds, chars);
            sqlite3_result_int(ctx, match(kinds, chars, nt, s, ns));
            return;
        }
    }
    call_fallback(ctx, argv[0], argv[1]);
}

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_p2pdblike_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi) {
    (void)db;
    (void)pzErrMsg;
    SQLITE_EXTENSION_INIT2(pApi);
    return SQLITE_OK;
}

/* The version of the rules this file implements: raise it, and the version p2pdb/sql/like.py
 * asks for, with any change of an answer. Python refuses a build of another version (an editable
 * checkout not rebuilt since its C file changed) and uses its own functions instead. */
#define RULES_VERSION 1

static PyObject *py_install(PyObject *self, PyObject *fn) {
    (void)self;
    if (!PyCallable_Check(fn)) {
        PyErr_SetString(PyExc_TypeError, "install() takes a callable");
        return NULL;
    }
    Py_INCREF(fn);
    Py_XSETREF(fallback, fn);
    Py_RETURN_NONE;
}

static PyObject *py_ready(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyBool_FromLong(sqlite3_api != NULL && fallback != NULL);
}

static PyObject *py_register(PyObject *self, PyObject *args) {
    unsigned long long pointer;
    (void)self;
    if (!PyArg_ParseTuple(args, "K:register", &pointer)) return NULL;
    if (sqlite3_api == NULL || fallback == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the extension is not loaded into SQLite yet");
        return NULL;
    }
    int rc = sqlite3_create_function_v2((sqlite3 *)(uintptr_t)pointer, "like", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                        NULL, like2, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        PyErr_Format(PyExc_RuntimeError, "sqlite3_create_function_v2(like) failed: %d", rc);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"install", py_install, METH_O, "install(fn): the Python LIKE called for what is not ASCII text."},
    {"ready", py_ready, METH_NOARGS, "ready() -> bool: loaded into SQLite and installed."},
    {"register", py_register, METH_VARARGS, "register(sqlite3_pointer): like(pattern, value) on a connection."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "p2pdb.sql._like", "MySQL's LIKE for ASCII text (see _like.c).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__like(void) {
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "version", RULES_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
