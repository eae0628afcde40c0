// A small dense matrix class.
#include <cstddef>
#include <stdexcept>
#include <vector>

namespace linalg {

/// Row-major dense matrix of doubles.
class Matrix {
public:
    Matrix(std::size_t rows, std::size_t cols) : rows_(rows), cols_(cols), data_(rows * cols) {}

    /// Element access with bounds checking.
    double& at(std::size_t r, std::size_t c) {
        if (r >= rows_ || c >= cols_) throw std::out_of_range("Matrix::at");
        return data_[r * cols_ + c];
    }

    std::size_t rows() const { return rows_; }

    Matrix operator*(const Matrix& other) const;

private:
    std::size_t rows_, cols_;
    std::vector<double> data_;
};

/// Matrix product; throws when the shapes do not match.
Matrix Matrix::operator*(const Matrix& other) const {
    if (cols_ != other.rows_) throw std::invalid_argument("shape mismatch");
    Matrix out(rows_, other.cols_);
    for (std::size_t i = 0; i < rows_; ++i)
        for (std::size_t j = 0; j < other.cols_; ++j)
            for (std::size_t k = 0; k < cols_; ++k)
                out.at(i, j) += data_[i * cols_ + k] * other.data_[k * other.cols_ + j];
    return out;
}

/// A 2-D point.
struct Point {
    double x = 0, y = 0;
};

/// The larger of two values.
template <typename T>
T max_of(const T& a, const T& b) {
    return a < b ? b : a;
}

}  // namespace linalg

int main() {
    linalg::Matrix m(2, 2);
    m.at(0, 0) = 1.0;
    return 0;
}
