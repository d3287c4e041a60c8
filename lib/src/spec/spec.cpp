// spec: parsing a spec object, the resolved spec as JSON and the spec reference, walking the
// field descriptions of every section with the visitors of visitors.hpp.
#include "moe/spec/spec.hpp"

#include <filesystem>

#include "fields.hpp"
#include "moe/data/dataset.hpp"
#include "visitors.hpp"

namespace moe::spec {

namespace fs = std::filesystem;

void validate(const Spec & s, std::vector<SpecProblem> & errs); // validate.cpp

Spec parse_spec(const json & j, const std::string & source) {
    std::vector<SpecProblem> errs;
    Spec s;
    if (!j.is_object()) {
        errs.push_back({"", "the spec must be a JSON object, got " + type_name(j)});
        throw SpecError(source, errs);
    }
    Reader r(&j, "", &errs);
    visit(r, s);
    r.finish();
    validate(s, errs);
    if (!errs.empty()) throw SpecError(source, errs);
    return s;
}

json to_json(const Spec & s) {
    Writer w;
    Spec copy = s;
    visit(w, copy);
    return w.out;
}

std::vector<FieldDoc> spec_reference() {
    std::vector<FieldDoc> rows;
    Documenter d("", &rows);
    Spec s;
    visit(d, s);
    return rows;
}

std::vector<std::pair<std::string, std::string>> input_files(const Spec & s) {
    std::vector<std::pair<std::string, std::string>> in = {
        {"the base run", s.base}, {"data.train_path", s.data.train_path}, {"data.test_path", s.data.test_path}};
    if (s.data.source == "fashion-mnist") {
        const std::string dir = data::fashion_mnist_dir(s.data.dir);
        for (const char * f :
             {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"})
            for (const char * ext : {"", ".gz"})
                in.push_back({"a Fashion-MNIST file", (fs::path(dir) / (std::string(f) + ext)).string()});
    }
    return in;
}

std::string default_run_path(const Spec & s) {
    const std::string & n = s.exp.name;
    if (n.empty() || n == "." || n == ".." || n.find('/') != std::string::npos || n.find('\0') != std::string::npos)
        throw SpecError("exp.name",
                        {{"exp.name", "the default output is runs/<exp.name>.h5, so it must be one file name "
                                      "(not empty, no '/'), got " +
                                          json(n).dump() + "; or give -o"}});
    return "runs/" + n + ".h5";
}

} // namespace moe::spec
