/* Native comparison functions of P2PDB's text collations (p2pdb/store/collation.py has the rules).
 *
 * SQLite calls a collation for every comparison of a sort, a DISTINCT or an index search. Through
 * Python each call costs about a microsecond (two strings decoded, a call, the result converted):
 * an ORDER BY over 100 short values spent 225 us in it against 30 us for BINARY. These functions
 * answer in C for the strings that decide in ASCII, and call the Python function of the same rule
 * for the rest, so both give the same order by construction:
 *
 * - PAD SPACE, case-insensitive (P2PDB_CI and the MySQL *_ci names): trailing spaces removed, then
 *   ASCII letters lowered; the first differing character decides if no non-ASCII byte came before
 *   it in either string (Unicode case folding changes a string only from its first non-ASCII
 *   character on), and a string that is a prefix of the other compares its rest against spaces;
 * - NO PAD, case-insensitive: the same without removing or padding spaces;
 * - PAD SPACE and NO PAD binary: UTF-8 bytes compare in code-point order, so no call is needed.
 *
 * The module is a Python extension (so the package can import and find it) and a SQLite extension
 * (so SQLite hands it its API table): collation.py loads it once into a scratch connection with
 * sqlite3_p2pdbcollate_init, then registers the functions on each connection by its sqlite3
 * pointer. Built when a C compiler and sqlite3ext.h are there (pyproject.toml, optional); without
 * it collation.py registers the Python functions, which order exactly alike.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <sqlite3ext.h>
/* SQLITE_EXTENSION_INIT1, but static: SQLite loads an extension with RTLD_GLOBAL, and two modules
 * each exporting a global sqlite3_api would share one through symbol interposition. */
static const sqlite3_api_routines *sqlite3_api = 0;

enum { CI_PAD = 0, CI_NO_PAD = 1, BIN_PAD = 2, BIN_NO_PAD = 3 };

/* The Python functions of the two case-insensitive rules (install()), called for what ASCII does
 * not decide. References held for the life of the process. */
static PyObject *fallback_pad;
static PyObject *fallback_no_pad;

/* -1, 0 or 1 from the Python rule; 0 if it fails (reported as unraisable: it cannot fail on text
 * SQLite holds, which is always valid UTF-8 written from Python strings). */
static int call_fallback(PyObject *fn, int na, const unsigned char *a, int nb, const unsigned char *b) {
    PyGILState_STATE state = PyGILState_Ensure();
    int out = 0;
    PyObject *sa = PyUnicode_DecodeUTF8((const char *)a, na, NULL);
    PyObject *sb = sa ? PyUnicode_DecodeUTF8((const char *)b, nb, NULL) : NULL;
    PyObject *res = sb ? PyObject_CallFunctionObjArgs(fn, sa, sb, NULL) : NULL;
    if (res != NULL) {
        long v = PyLong_AsLong(res);
        out = v < 0 ? -1 : (v > 0 ? 1 : 0);
        Py_DECREF(res);
    }
    if (PyErr_Occurred()) {
        PyErr_WriteUnraisable(fn);
        out = 0;
    }
    Py_XDECREF(sa);
    Py_XDECREF(sb);
    PyGILState_Release(state);
    return out;
}

static inline unsigned char lower(unsigned char c) {
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

/* Case-insensitive comparison of a and b (trailing spaces already removed for PAD SPACE). Returns
 * -1, 0 or 1, or 2 when a non-ASCII byte comes before the answer. */
static int ascii_ci(int na, const unsigned char *a, int nb, const unsigned char *b, int pad) {
    int n = na < nb ? na : nb;
    for (int i = 0; i < n; i++) {
        unsigned char ca = a[i], cb = b[i];
        if ((ca | cb) & 0x80) return 2;
        ca = lower(ca);
        cb = lower(cb);
        if (ca != cb) return ca < cb ? -1 : 1;
    }
    if (na == nb) return 0;
    if (!pad) return na < nb ? -1 : 1;
    /* PAD SPACE: the longer string's rest against spaces; it has a character other than a space. */
    const unsigned char *rest = na > nb ? a : b;
    int len = na > nb ? na : nb, sign = na > nb ? 1 : -1;
    for (int i = n; i < len; i++) {
        unsigned char c = rest[i];
        if (c & 0x80) return 2;
        if (c != ' ') return c > ' ' ? sign : -sign;
    }
    return 0;
}

static int strip(int n, const unsigned char *s) {
    while (n > 0 && s[n - 1] == ' ') n--;
    return n;
}

static int compare_ci_pad(void *arg, int na, const void *va, int nb, const void *vb) {
    const unsigned char *a = va, *b = vb;
    int ma = strip(na, a), mb = strip(nb, b);
    int r = ascii_ci(ma, a, mb, b, 1);
    return r == 2 ? call_fallback((PyObject *)arg, na, a, nb, b) : r;
}

static int compare_ci_no_pad(void *arg, int na, const void *va, int nb, const void *vb) {
    const unsigned char *a = va, *b = vb;
    int r = ascii_ci(na, a, nb, b, 0);
    return r == 2 ? call_fallback((PyObject *)arg, na, a, nb, b) : r;
}

/* Binary: UTF-8 byte order is code-point order, and every byte of a non-ASCII character is above
 * a space, so bytes decide for PAD SPACE too. */
static int compare_bin(int na, const unsigned char *a, int nb, const unsigned char *b, int pad) {
    int n = na < nb ? na : nb;
    int c = memcmp(a, b, (size_t)n);
    if (c != 0) return c < 0 ? -1 : 1;
    if (na == nb) return 0;
    if (!pad) return na < nb ? -1 : 1;
    const unsigned char *rest = na > nb ? a : b;
    int len = na > nb ? na : nb, sign = na > nb ? 1 : -1;
    for (int i = n; i < len; i++) {
        if (rest[i] != ' ') return rest[i] > ' ' ? sign : -sign;
    }
    return 0;
}

static int compare_bin_pad(void *arg, int na, const void *va, int nb, const void *vb) {
    (void)arg;
    const unsigned char *a = va, *b = vb;
    return compare_bin(strip(na, a), a, strip(nb, b), b, 1);
}

static int compare_bin_no_pad(void *arg, int na, const void *va, int nb, const void *vb) {
    (void)arg;
    return compare_bin(na, va, nb, vb, 0);
}

/* The SQLite extension's entry point: keeps SQLite's API table; registers nothing itself. */
#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_p2pdbcollate_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi) {
    (void)db;
    (void)pzErrMsg;
    SQLITE_EXTENSION_INIT2(pApi);
    return SQLITE_OK;
}

/* The version of the rules this file implements: raise it, and the version p2pdb/store/collation.py
 * asks for, with any change of an answer. Python refuses a build of another version (an editable
 * checkout not rebuilt since its C file changed) and uses its own functions instead. */
#define RULES_VERSION 1

static PyObject *py_install(PyObject *self, PyObject *args) {
    PyObject *pad, *no_pad;
    (void)self;
    if (!PyArg_ParseTuple(args, "OO:install", &pad, &no_pad)) return NULL;
    if (!PyCallable_Check(pad) || !PyCallable_Check(no_pad)) {
        PyErr_SetString(PyExc_TypeError, "install() takes two callables");
        return NULL;
    }
    Py_INCREF(pad);
    Py_INCREF(no_pad);
    Py_XSETREF(fallback_pad, pad);
    Py_XSETREF(fallback_no_pad, no_pad);
    Py_RETURN_NONE;
}

static PyObject *py_ready(PyObject *self, PyObject *args) {
    (void)self;
    (void)args;
    return PyBool_FromLong(sqlite3_api != NULL && fallback_pad != NULL);
}

static PyObject *py_register(PyObject *self, PyObject *args) {
    unsigned long long pointer;
    const char *name;
    int kind;
    (void)self;
    if (!PyArg_ParseTuple(args, "Ksi:register", &pointer, &name, &kind)) return NULL;
    if (sqlite3_api == NULL || fallback_pad == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the extension is not loaded into SQLite yet");
        return NULL;
    }
    int (*fn)(void *, int, const void *, int, const void *);
    void *arg = NULL;
    switch (kind) {
    case CI_PAD: fn = compare_ci_pad; arg = fallback_pad; break;
    case CI_NO_PAD: fn = compare_ci_no_pad; arg = fallback_no_pad; break;
    case BIN_PAD: fn = compare_bin_pad; break;
    case BIN_NO_PAD: fn = compare_bin_no_pad; break;
    default:
        PyErr_SetString(PyExc_ValueError, "unknown collation kind");
        return NULL;
    }
    int rc = sqlite3_create_collation_v2((sqlite3 *)(uintptr_t)pointer, name, SQLITE_UTF8, arg, fn, NULL);
    if (rc != SQLITE_OK) {
        PyErr_Format(PyExc_RuntimeError, "sqlite3_create_collation_v2(%s) failed: %d", name, rc);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *py_compare(PyObject *self, PyObject *args) {
    const char *a, *b;
    Py_ssize_t na, nb;
    int kind;
    (void)self;
    if (!PyArg_ParseTuple(args, "is#s#:compare", &kind, &a, &na, &b, &nb)) return NULL;
    if (na > INT_MAX || nb > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "string too long");
        return NULL;
    }
    if ((kind == CI_PAD || kind == CI_NO_PAD) && fallback_pad == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "install() was not called");
        return NULL;
    }
    int r;
    switch (kind) {
    case CI_PAD: r = compare_ci_pad(fallback_pad, (int)na, a, (int)nb, b); break;
    case CI_NO_PAD: r = compare_ci_no_pad(fallback_no_pad, (int)na, a, (int)nb, b); break;
    case BIN_PAD: r = compare_bin_pad(NULL, (int)na, a, (int)nb, b); break;
    case BIN_NO_PAD: r = compare_bin_no_pad(NULL, (int)na, a, (int)nb, b); break;
    default:
        PyErr_SetString(PyExc_ValueError, "unknown collation kind");
        return NULL;
    }
    if (PyErr_Occurred()) return NULL;
    return PyLong_FromLong(r);
}

static PyMethodDef methods[] = {
    {"install", py_install, METH_VARARGS,
     "install(pad, no_pad): the Python functions called for comparisons ASCII does not decide."},
    {"ready", py_ready, METH_NOARGS, "ready() -> bool: loaded into SQLite and installed."},
    {"register", py_register, METH_VARARGS,
     "register(sqlite3_pointer, name, kind): register collation ``name`` of ``kind`` on a connection."},
    {"compare", py_compare, METH_VARARGS,
     "compare(kind, a, b) -> int: the comparison SQLite gets (for tests)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "p2pdb.store._collate", "Native text collations (see _collate.c).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__collate(void) {
    PyObject *m = PyModule_Create(&module);
    if (m != NULL && PyModule_AddIntConstant(m, "version", RULES_VERSION) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
