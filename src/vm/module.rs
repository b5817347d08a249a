//! `import "path.proc" as name`: runs a file once, in a compilation unit of its
//! own, and gives its top-level names as attributes of a Module value.

use super::Vm;
use crate::compile::compiler::Mode;
use crate::diagnostic::Source;
use crate::value::{Exc, Object, Value, VmResult};
use std::path::{Path, PathBuf};

pub struct Module {
    pub name: String,
    pub unit: usize,
}

impl Object for Module {
    fn type_name(&self) -> &'static str {
        "Module"
    }
    fn repr(&self, _vm: &mut Vm) -> String {
        format!("<module {}>", self.name)
    }
    fn get_attr(&self, vm: &mut Vm, _this: &Value, name: &str) -> Option<VmResult<Value>> {
        Some(match vm.globals.get(self.unit, name) {
            Some(v) => Ok(v.clone()),
            None => Err(Exc::new(
                "AttributeError",
                format!("module {} has no attribute `{name}`", self.name),
            )),
        })
    }
    fn set_attr(&self, vm: &mut Vm, name: &str, value: Value) -> VmResult<()> {
        vm.globals.set(self.unit, name, value);
        Ok(())
    }
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Vm {
    /// Imports `path`, relative to the importing file's folder (then to the main
    /// script's folder). A module runs only once; later imports share it.
    pub fn import(&mut self, path: &str, importer: &str) -> VmResult<Value> {
        if !self.config.allow_files {
            return Err(Exc::new(
                "NotSupported",
                "import reads files, which this interpreter does not allow (allow_files)",
            ));
        }
        let from = Path::new(importer)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let candidates = [
            from.join(path),
            self.script_dir.join(path),
            PathBuf::from(path),
        ];
        let Some(found) = candidates.iter().find(|p| p.is_file()) else {
            return Err(Exc::new(
                "IOError",
                format!("cannot import \"{path}\": no such file"),
            ));
        };
        let key = found.canonicalize().unwrap_or_else(|_| found.clone());
        if let Some(m) = self.modules.get(&key) {
            return Ok(m.clone());
        }
        let bytes = std::fs::read(found)
            .map_err(|e| Exc::new("IOError", format!("cannot import \"{path}\": {e}")))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            Exc::new(
                "ParseError",
                format!("cannot import \"{path}\": it is not valid UTF-8"),
            )
        })?;
        let shown = found.to_string_lossy().trim_start_matches("./").to_string();
        let source = Source::new(shown, text);
        let unit = self.globals.new_unit();
        let name = Path::new(path)
            .file_stem()
            .map_or_else(|| path.to_string(), |s| s.to_string_lossy().into_owned());
        let module = Value::object(Module { name, unit });
        // registered before it runs, so that circular imports see the partial module
        self.modules.insert(key, module.clone());
        let proto = crate::compile_source(self, &source, unit, Mode::Module).map_err(|d| {
            Exc::new(
                &d.kind,
                format!(
                    "in {}:{}:{}: {}",
                    d.file,
                    d.line.unwrap_or(0),
                    d.column.unwrap_or(0),
                    d.message
                ),
            )
        })?;
        self.run_proto(proto)?;
        Ok(module)
    }
}
